"""Assembles the HTTP adapter's routes into one Starlette app (see docs/http-api.md)."""

from __future__ import annotations

from starlette.applications import Starlette

from relay_server.http import (
    approvals,
    files,
    health,
    join,
    messages,
    peers,
    roles,
    search,
    sessions,
    tasks,
    ui,
)
from relay_server.http.errors import EXCEPTION_HANDLERS
from relay_server.http.service_calls import SERVICE_STATE
from relay_server.http.ui_logins import UI_STATE, WebView
from relay_server.service import RelayService


def build_http_api(service: RelayService, web_view: WebView | None = None) -> Starlette:
    """The Starlette app serving ``/healthz``, ``/api/v1/...``, ``/blobs/...`` and the web view
    (``/ui``, with ``web_view``'s settings and logins) for ``service``.

    Handlers parse the request, call the service (blocking calls in a worker thread) and answer
    with the relay-core model as JSON; errors are answered by the one table in :mod:`.errors`.
    """
    app = Starlette(
        routes=[
            *health.ROUTES,
            *peers.ROUTES,
            *sessions.ROUTES,
            *messages.ROUTES,
            *files.ROUTES,
            *search.ROUTES,
            *roles.ROUTES,
            *tasks.ROUTES,
            *approvals.ROUTES,
            *ui.ROUTES,
            *join.ROUTES,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    setattr(app.state, SERVICE_STATE, service)
    setattr(app.state, UI_STATE, web_view or WebView())
    return app

"""The web view: ``/ui`` serves a page that shows sessions, presence and messages live.

``/`` redirects to ``/ui/``. The page (``relay_server/ui/``: one HTML file, one stylesheet, one
script; no build step, nothing from another site) logs in once with ``POST /ui/login`` and then
reads ``/ui/api/...`` with its cookie (see :mod:`.ui_logins`, :mod:`.ui_api`, :mod:`.ui_events`).
Every answer under ``/ui`` carries a Content-Security-Policy that allows scripts from this relay
only (no inline script, so text from agents cannot run even if it were rendered as markup, which
the page never does) and tells the browser not to guess types or send referrers.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay_core import NotFound
from relay_server.http import ui_api, ui_events
from relay_server.http.params import caller_of
from relay_server.http.responses import json_response
from relay_server.http.ui_logins import LOGIN_TTL_S, UI_COOKIE, UI_PATH, cookie_of, web_view_of

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
STATIC_FILES: Final = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
}
"""The page's files by name: nothing else under ``/ui/static/`` exists."""


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every answer of the app it wraps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def _asset(name: str) -> bytes:
    return files("relay_server").joinpath("ui", name).read_bytes()


def _exactly(request: Request, *paths: str) -> None:
    """Refuse a path the route matched only by Starlette's ``$``, which also matches before a
    final newline (``/%0A`` would be ``/``)."""
    if request.scope["path"] not in paths:
        raise NotFound(f"no route {request.scope['path']!r}")


async def to_page(request: Request) -> Response:
    """``/`` and ``/ui``: the page lives at ``/ui/``."""
    _exactly(request, "/", UI_PATH)
    return RedirectResponse(UI_PATH + "/", status_code=307)


async def page(request: Request) -> Response:
    """The page itself: it asks for a token when the relay needs one."""
    _exactly(request, UI_PATH + "/")
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8")


async def static(request: Request) -> Response:
    """One of the page's files, by name from :data:`STATIC_FILES`."""
    name = request.path_params["name"]
    if name not in STATIC_FILES:
        raise NotFound(f"no file {name!r} in the web view")
    return Response(_asset(name), media_type=STATIC_FILES[name])


async def login(request: Request) -> Response:
    """Start a login: the auth middleware has checked the headers; remember them in a cookie."""
    caller = caller_of(request)
    key = web_view_of(request).logins.add(request.headers.get("authorization"), caller)
    response = json_response({"viewer": caller}, 201)
    response.set_cookie(
        UI_COOKIE,
        key,
        max_age=int(LOGIN_TTL_S),
        path=UI_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    """End the login of the cookie sent, and clear the cookie."""
    key = cookie_of(request.headers.get("cookie"))
    if key is not None:
        web_view_of(request).logins.remove(key)
    response = Response(status_code=204)
    response.delete_cookie(
        UI_COOKIE,
        path=UI_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


ROUTES: Final[list[BaseRoute]] = [
    Route("/", to_page, methods=["GET"]),
    Route(UI_PATH, to_page, methods=["GET"]),
    Mount(
        UI_PATH,
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/static/{name}", static, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            *ui_api.ROUTES,
            *ui_events.ROUTES,
        ],
        middleware=[Middleware(SecurityHeaders)],
    ),
]

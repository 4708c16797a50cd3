"""Assembles config, storage, service and adapters into one ASGI app.

Routing, outermost first: FastMCP's Host/Origin guard (DNS rebinding), the access log, the auth
middleware, the per-client rate limit (when configured), the bound on large MCP bodies in flight,
the MCP revision gate (under ``mcp_revisions = "push"``), then ``/mcp`` (FastMCP) and everything
else (the HTTP API and the web view at ``/ui``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from fastmcp import FastMCP
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, RequestBodyLimitMiddleware
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from relay_core.wire import MCP_PATH
from relay_server import __version__
from relay_server.config import ServerConfig
from relay_server.events import EventHub
from relay_server.http.api import build_http_api
from relay_server.http.errors import EXCEPTION_HANDLERS
from relay_server.http.ui_logins import WebView
from relay_server.mcp.connections import McpSessionMiddleware, McpSessions, session_manager_of
from relay_server.mcp.inline_budget import InlineBudget, InlineBudgetMiddleware
from relay_server.mcp.push import LivePush
from relay_server.mcp.revisions import HandshakeOnly
from relay_server.mcp.server import build_mcp_server
from relay_server.middleware.access_log import AccessLogMiddleware
from relay_server.middleware.auth import Authenticator, AuthMiddleware
from relay_server.middleware.host_guard import GuardAnswers
from relay_server.middleware.rate_limit import RateLimitMiddleware, TokenBuckets
from relay_server.revocation import Revocation
from relay_server.service import RelayLimits, RelayService, Replicas
from relay_server.storage import open_storage
from relay_server.storage.blobs import BlobStore
from relay_server.storage.sqlite import PRIVATE_DIR_MODE, make_private
from relay_server.token_marker import TokenMarker

MCP_ENVELOPE_BYTES: Final = 64 * 1024
"""Room in an MCP request body for everything but an ``upload_file`` call's base64 content."""


def mcp_body_limit_bytes(inline_file_bytes: int) -> int:
    """The largest MCP request body: at least the SDK's own limit, and room for an
    ``upload_file`` call carrying a file of ``inline_file_bytes`` as base64."""
    base64_bytes = 4 * -(-inline_file_bytes // 3)
    return max(DEFAULT_MAX_REQUEST_BODY_SIZE, base64_bytes + MCP_ENVELOPE_BYTES)


def set_mcp_body_limit(app: Starlette, limit: int) -> None:
    """Make the MCP SDK refuse bodies over ``limit`` (413) instead of its fixed 4 MiB.

    FastMCP builds the SDK's session manager in its lifespan without a way to pass
    ``max_request_body_size``, so this adjusts the SDK's body-limit middleware once the manager
    exists; call it from the lifespan (with no manager, MCP is not served over HTTP and there
    is nothing to set). Raises RuntimeError when FastMCP or the SDK changed shape, so an upgrade
    that breaks this fails at start, not on the first large upload.
    """
    manager = session_manager_of(app)
    if manager is None:
        return
    guard = getattr(manager, "asgi_app", None)
    if not isinstance(guard, RequestBodyLimitMiddleware):
        raise RuntimeError("cannot find the MCP SDK's request body limit to set it")
    guard.max_body_size = limit
    manager.max_request_body_size = limit


@dataclass
class Relay:
    """A built relay: the ASGI app and the parts tests and commands reach into."""

    app: ASGIApp
    service: RelayService
    hub: EventHub
    mcp: FastMCP
    push: LivePush
    config: ServerConfig
    sessions: McpSessions
    replicas: Replicas


class _McpTrailingSlash:
    """Serve ``/mcp/`` like ``/mcp`` instead of answering with a 307 redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == MCP_PATH + "/":
            scope = {**scope, "path": MCP_PATH, "raw_path": MCP_PATH.encode()}
        await self.app(scope, receive, send)


def build_service(config: ServerConfig, hub: EventHub | None = None) -> RelayService:
    """Open the database and build the service (also used by the admin commands)."""
    for directory in (config.data_dir, config.blobs_dir):
        make_private(directory, PRIVATE_DIR_MODE)
    storage = open_storage(config.database_url or config.database_path)
    service = RelayService(
        storage,
        hub or EventHub(),
        version=__version__,
        auth_mode=config.effective_auth_mode,
        limits=RelayLimits(
            max_blob_bytes=config.max_blob_bytes,
            blob_quota_bytes=config.blob_quota_bytes,
            inline_file_bytes=config.inline_file_bytes,
        ),
        blobs=BlobStore(
            config.blobs_dir,
            config.max_blob_bytes,
            config.blob_quota_bytes,
            max_in_flight_per_client_bytes=config.upload_in_flight_cap_bytes,
        ),
        token_marker=TokenMarker(config.token_marker_base),
    )
    service.tls_ca_path = config.tls_ca_path  # served for clients to pin (http/join.py)
    return service


def _authenticator(
    config: ServerConfig, service: RelayService, sessions: McpSessions
) -> tuple[Authenticator, Revocation | None]:
    """Who may call, and (per-client tokens only) what ends when a token is replaced."""
    marker = service.token_marker
    # Only per-client tokens change under a running relay.
    revocation = (
        Revocation(sessions, tokens_version=marker.state, owner_of=service.client_for_token_hash)
        if marker is not None and config.effective_auth_mode == "per-client"
        else None
    )
    authenticator = Authenticator(
        config.effective_auth_mode,
        shared_token_hash=config.shared_token_hash,
        lookup_token_hash=service.client_for_token_hash,
        tokens_version=marker.state if marker else None,
        on_tokens_changed=revocation.tokens_changed if revocation else None,
    )
    return authenticator, revocation


def _middleware(
    config: ServerConfig,
    service: RelayService,
    sessions: McpSessions,
    authenticator: Authenticator,
    revocation: Revocation | None,
    web_view: WebView,
) -> list[Middleware]:
    """The middlewares inside FastMCP's Host/Origin guard, outermost first."""
    rate_limit = (
        [
            Middleware(
                RateLimitMiddleware,
                buckets=TokenBuckets(config.rate_limit_per_s, config.rate_limit_burst),
            )
        ]
        if config.rate_limit_per_s > 0
        else []
    )
    # Push rides the handshake era's GET stream; see mcp/revisions.py for why this gate exists.
    revision_gate = [Middleware(HandshakeOnly)] if config.mcp_revisions == "push" else []
    return [
        Middleware(AccessLogMiddleware),
        Middleware(
            AuthMiddleware,
            authenticator=authenticator,
            on_caller=service.record_seen,
            touch_due=service.touch_due,
            revocation=revocation,
            ui_logins=web_view.logins,
        ),
        *rate_limit,
        Middleware(
            InlineBudgetMiddleware,
            budget=InlineBudget(
                config.inline_bytes_in_flight,
                mcp_body_limit_bytes(config.inline_file_bytes),
                config.inline_upload_wait_s,
            ),
        ),
        *revision_gate,
        Middleware(McpSessionMiddleware, sessions=sessions),
    ]


def build_relay(config: ServerConfig) -> Relay:
    """Build the whole relay for ``config``; nothing listens until it is served."""
    hub = EventHub()
    service = build_service(config, hub)
    sessions = McpSessions(config.mcp_sessions_per_client)
    authenticator, revocation = _authenticator(config, service, sessions)
    service.attach_connections(sessions)  # who is live, for the web view
    web_view = WebView(post_as=config.ui_post_as)
    replicas = Replicas(service.storage, hub)

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, Any]]:
        hub.attach(asyncio.get_running_loop())
        if revocation is not None:
            revocation.bind(asyncio.get_running_loop())
        set_mcp_body_limit(app, mcp_body_limit_bytes(config.inline_file_bytes))
        sessions.bind(session_manager_of(app))
        replicas.start()  # PostgreSQL: hear every replica's commits before serving
        try:
            yield {}
        finally:
            try:
                replicas.stop()  # within a quarter of a second (the listener's wait)
                service.stop()
            finally:
                service.storage.close()  # a database server's connections end with the relay

    push = LivePush(service, streams=sessions, token_changes=revocation)
    mcp = build_mcp_server(service, version=__version__, lifespan=lifespan, push=push)
    app: Starlette = mcp.http_app(
        path=MCP_PATH,
        middleware=_middleware(config, service, sessions, authenticator, revocation, web_view),
        host_origin_protection=True,
        allowed_hosts=[config.host, *config.allowed_hosts],
        session_idle_timeout=config.mcp_session_idle_s,
    )
    app.add_middleware(GuardAnswers)  # outermost: around FastMCP's Host/Origin guard
    app.router.routes.append(Mount("/", app=build_http_api(service, web_view)))
    # Mount's pattern does not match a path with a newline in it (%0A), so such requests end in
    # the outer app's router: its 404s must be JSON like every other error.
    app.add_exception_handler(HTTPException, EXCEPTION_HANDLERS[HTTPException])
    return Relay(
        app=_McpTrailingSlash(app),
        service=service,
        hub=hub,
        mcp=mcp,
        push=push,
        config=config,
        sessions=sessions,
        replicas=replicas,
    )

"""Assembles config, storage, service and adapters into one ASGI app.

Routing, outermost first: FastMCP's Host/Origin guard (DNS rebinding), the access log, the auth
middleware, then ``/mcp`` (FastMCP) and everything else (the HTTP API).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from relay_core.wire import MCP_PATH
from relay_server import __version__
from relay_server.access_log import AccessLogMiddleware
from relay_server.auth import Authenticator, AuthMiddleware
from relay_server.blobstore import BlobStore
from relay_server.config import ServerConfig
from relay_server.db import open_database
from relay_server.events import EventHub
from relay_server.http_api import build_http_api
from relay_server.http_blobs import blob_routes
from relay_server.mcp_tools import build_mcp_server
from relay_server.push import LivePush
from relay_server.service import RelayLimits, RelayService


@dataclass
class Relay:
    """A built relay: the ASGI app and the parts tests and commands reach into."""

    app: ASGIApp
    service: RelayService
    hub: EventHub
    mcp: FastMCP
    push: LivePush
    config: ServerConfig


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
    db = open_database(config.database_path)
    return RelayService(
        db,
        hub or EventHub(),
        version=__version__,
        auth_mode=config.effective_auth_mode,
        limits=RelayLimits(
            max_blob_bytes=config.max_blob_bytes,
            blob_quota_bytes=config.blob_quota_bytes,
            inline_file_bytes=config.inline_file_bytes,
        ),
        blobs=BlobStore(config.blobs_dir, config.max_blob_bytes, config.blob_quota_bytes),
    )


def build_relay(config: ServerConfig) -> Relay:
    """Build the whole relay for ``config``; nothing listens until it is served."""
    hub = EventHub()
    service = build_service(config, hub)
    authenticator = Authenticator(
        config.effective_auth_mode,
        shared_token_hash=config.shared_token_hash,
        lookup_token_hash=service.client_for_token_hash,
    )

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, Any]]:
        hub.attach(asyncio.get_running_loop())
        yield {}

    push = LivePush(service, hub)
    mcp = build_mcp_server(service, version=__version__, lifespan=lifespan, push=push)
    app: Starlette = mcp.http_app(
        path=MCP_PATH,
        middleware=[
            Middleware(AccessLogMiddleware),
            Middleware(
                AuthMiddleware,
                authenticator=authenticator,
                on_caller=service.record_seen,
                touch_due=service.touch_due,
            ),
        ],
        host_origin_protection=True,
        allowed_hosts=[config.host, *config.allowed_hosts],
    )
    app.router.routes.append(Mount("/", app=build_http_api(service, blob_routes(service))))
    return Relay(
        app=_McpTrailingSlash(app), service=service, hub=hub, mcp=mcp, push=push, config=config
    )

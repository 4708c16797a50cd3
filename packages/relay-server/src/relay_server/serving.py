"""Running the relay under uvicorn: its settings, the listening socket, and a shutdown that
answers waiters.

Two things ``uvicorn.run`` does not do the way the relay needs:

- A port already in use ends uvicorn with a bare ``[Errno 98]`` log line. :func:`listen` binds
  the socket first and says which address is taken and what to do.
- On SIGTERM uvicorn stops accepting connections, waits up to its grace period for requests to
  finish, then cancels what is left: a long-poll parked in ``wait`` (HTTP) or
  ``wait_for_messages`` (MCP) was cancelled and answered with a plain-text ``500 Internal
  Server Error`` and a traceback in the log. :class:`RelayServer` first closes the event hub,
  which wakes every waiter: each answers ``unavailable`` (JSON 503 over HTTP, a tool error over
  MCP), which clients retry, and the grace period is left for requests doing real work.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable
from typing import Any, Final

import fastmcp
import uvicorn
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp, Receive, Scope, Send

from relay_core import Unavailable
from relay_core.wire import MCP_PATH
from relay_server.config import ServerConfig
from relay_server.events import EventHub
from relay_server.middleware.slow_clients import protocol_with_timeouts

DRAIN_POLL_S: Final = 0.05


def uvicorn_options(config: ServerConfig) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for a relay with ``config``.

    uvicorn's own limits, and the ones it lacks (see middleware/slow_clients.py and
    docs/security.md).
    """
    return {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "lifespan": "on",
        "access_log": False,
        "http": protocol_with_timeouts(config.request_head_timeout_s, config.request_body_idle_s),
        "ws": "none",  # the relay speaks no WebSocket: an Upgrade is a plain request
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": 30,  # idle keep-alive connections
        "h11_max_incomplete_event_size": 64 * 1024,  # request line and headers
        **config.tls_options(),  # HTTPS with the certificate `init --tls` made
    }


TELEMETRY_VARIABLE: Final = "FASTMCP_TELEMETRY_MODE"


def quiet_fastmcp_telemetry() -> None:
    """Switch FastMCP's OpenTelemetry spans off, unless :data:`TELEMETRY_VARIABLE` chose a mode.

    The relay ships no tracing, so FastMCP's spans are recorded by nobody, yet building them
    took 5% of an MCP tool call's CPU. Someone who runs an OpenTelemetry SDK beside the relay
    sets the variable to ``native`` and gets them back.
    """
    if TELEMETRY_VARIABLE not in os.environ:
        fastmcp.settings.telemetry_mode = "off"


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, ready to hand to uvicorn.

    Raises:
        Unavailable: the address is in use, or cannot be bound here; the message says which
            and how to pick another.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise Unavailable(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise Unavailable(
                f"port {port} on {host} is already in use (another relay, or another program): "
                f"stop it, or choose another port with --port or RELAY_PORT"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise Unavailable(
                f"{host} is not an address of this machine: listen on one of its addresses, "
                "or on 0.0.0.0 for all of them (--host or RELAY_HOST)"
            ) from None
        if exc.errno == errno.EACCES:
            raise Unavailable(
                f"not allowed to listen on {where} (ports below 1024 need privileges): "
                "choose a port from 1024 up with --port or RELAY_PORT"
            ) from None
        raise Unavailable(f"cannot listen on {where}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class AnswersInFlight:
    """Counts the requests being answered, leaving out MCP's standalone event streams
    (``GET /mcp``), which end only when the server ends them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] == "GET" and scope["path"].rstrip("/") == MCP_PATH
        ):
            await self.app(scope, receive, send)
            return
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1


class RelayServer(uvicorn.Server):
    """uvicorn's server, which on shutdown lets every long-poll answer before streams close.

    The MCP SDK streams answers as server-sent events through sse-starlette, which on its own
    ends every such stream the moment the signal arrives, before a woken ``wait_for_messages``
    has written its answer. So that drain is switched off, and the shutdown goes in order:
    wake the waiters (:meth:`EventHub.close`), wait (up to the grace period) until every
    request but the MCP event streams is answered, then end the event streams, then let
    uvicorn finish.
    """

    def __init__(self, app: ASGIApp, hub: EventHub, **options: Any) -> None:
        """Serve ``app`` with ``uvicorn.Config`` ``options`` (see :func:`uvicorn_options`)."""
        self.answers = AnswersInFlight(app)
        super().__init__(uvicorn.Config(self.answers, **options))
        self.hub = hub
        # Untyped in sse-starlette; it takes nothing and returns nothing.
        disable_drain: Callable[[], None] = AppStatus.disable_automatic_graceful_drain
        disable_drain()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Wake the waiters, wait for their answers, end the event streams, then shut down."""
        self.hub.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        while self.answers.count and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL_S)
        AppStatus.should_exit = True  # sse-starlette ends the MCP event streams
        await super().shutdown(sockets)

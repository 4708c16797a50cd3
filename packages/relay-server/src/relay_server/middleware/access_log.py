"""One structured line per call: time, client, operation, session, outcome, milliseconds.

Lines go to the ``relay_server.access`` logger in logfmt (``key=value``), which both people and
log tools read. Tokens never reach this module: it is handed the resolved client id only.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay_core.wire import MCP_PATH
from relay_server.request_scope import CALLER_SCOPE_KEY

access_log = logging.getLogger("relay_server.access")


def _escaped(ch: str) -> str:
    if ch in '"\\':
        return "\\" + ch
    return ch if ch.isprintable() else ascii(ch)[1:-1]  # \n, \x1b, \u2028, ...


def _field(value: object) -> str:
    """A logfmt value; quoted and escaped when needed, so a client's path, session name or tool
    name can never break the line or forge another one."""
    text = "-" if value is None else str(value)
    if not text or any(ch in text for ch in ' "=') or not text.isprintable():
        return '"' + "".join(_escaped(ch) for ch in text) + '"'
    return text


def log_call(
    *,
    client: str | None,
    operation: str,
    session: object,
    outcome: str | int,
    started: float,
    via: str,
) -> None:
    """Write one access line for a finished call."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    ms = (time.perf_counter() - started) * 1000
    access_log.info(
        "via=%s client=%s op=%s session=%s outcome=%s ms=%.1f",
        via,
        _field(client),
        _field(operation),
        _field(session if isinstance(session, str) else None),
        _field(outcome),
        ms,
    )


class AccessLogMiddleware:
    """Logs every HTTP request but MCP POSTs that succeed, which the tool middleware logs per
    tool call. So an MCP session's standalone GET stream (the one channel push rides) gets a
    ``via=mcp op="GET /mcp"`` line when it closes, its ``ms`` the time it was open, and a
    refused MCP request (401, an unsupported revision's 400, a stale session's 404) gets one too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        mcp = scope["path"] == MCP_PATH
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not (mcp and scope["method"] == "POST" and status < 400):
                route = scope.get("route")
                log_call(
                    client=scope.get(CALLER_SCOPE_KEY),
                    operation=f"{scope['method']} {getattr(route, 'path', scope['path'])}",
                    session=scope.get("path_params", {}).get("name"),
                    outcome=status,
                    started=started,
                    via="mcp" if mcp else "http",
                )

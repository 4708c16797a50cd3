"""Which MCP protocol revisions the relay's ``/mcp`` endpoint serves.

Channel push needs a connection with a standing server-to-client stream: on the handshake era
(``initialize``, a session id, then the standalone GET stream) the relay has one per connection;
on 2026-07-28 ("modern": stateless, one POST per request) it has none, and Claude Code 2.1.330
skips channel registration there. Claude Code first probes ``server/discover`` at 2026-07-28 and
falls back to ``initialize`` only when the server does not take that revision, while the MCP SDK
(mcp 2.3, under FastMCP 4.2) serves both eras with no setting to turn the modern one off.

So, under ``mcp_revisions = "push"`` (the default), :class:`HandshakeOnly` answers every request
that names a revision outside the handshake era the way a server that speaks only those
revisions must (MCP 2025-11-25, transports: "If the server receives a request with an invalid or
unsupported MCP-Protocol-Version, it MUST respond with 400 Bad Request"): HTTP 400 with a JSON-RPC
``-32600`` error naming the revisions it does serve. That is "a 4xx without a recognized modern
error body", which the 2026-07-28 dual-era rules make clients read as a legacy server, so they
fall back to ``initialize``. It is deliberately not ``-32022`` (UnsupportedProtocolVersion): that
code is modern evidence, and a strict client would retry a modern revision instead of falling
back. An ``initialize`` asking for a newer revision needs nothing from us: the SDK answers it with
its newest handshake revision (2025-11-25).

The one thing this relies on in the SDK: its streamable-HTTP manager picks the era from the
``MCP-Protocol-Version`` header alone (a request without that header, or with a handshake
revision in it, goes to the handshake transport). tests/server/test_mcp_revisions.py fails if an
upgrade starts serving a request the modern way without that header.
"""

from __future__ import annotations

import json
from typing import Final

from mcp.types import INVALID_REQUEST
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Receive, Scope, Send

from relay_core.wire import MCP_PATH

PUSH_REVISIONS: Final = tuple(HANDSHAKE_PROTOCOL_VERSIONS)
"""The revisions served under ``push``: those opened by ``initialize``, with a standalone stream."""

PROTOCOL_VERSION_HEADER: Final = b"mcp-protocol-version"
SHOWN_VERSION_CHARS: Final = 40
"""How much of an unserved version the refusal repeats back."""


def unsupported_revision_body(requested: str) -> bytes:
    """The JSON-RPC error a handshake-only server sends for a request at ``requested``:
    "Invalid Request" (-32600), which no client takes for a modern server's error."""
    message = (
        f"Bad Request: unsupported protocol version {requested[:SHOWN_VERSION_CHARS]!r}; "
        "this relay serves "
        f"{', '.join(PUSH_REVISIONS)} (start with initialize)"
    )
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}
    return json.dumps(error, separators=(",", ":")).encode()


class HandshakeOnly:
    """Refuse MCP requests at a revision outside :data:`PUSH_REVISIONS` before the SDK sees them.

    Runs after authentication, so a bad token still gets its 401 first. The request body is
    never read: the header decides, as it does in the SDK.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == MCP_PATH:
            requested = next((v for k, v in scope["headers"] if k == PROTOCOL_VERSION_HEADER), None)
            if requested is not None:
                version = requested.decode("latin-1")
                if version not in PUSH_REVISIONS:
                    await _refuse(version, send)
                    return
        await self.app(scope, receive, send)


async def _refuse(version: str, send: Send) -> None:
    body = unsupported_revision_body(version)
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

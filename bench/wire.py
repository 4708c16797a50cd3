"""Lean load-generating clients: HTTP/1.1 keep-alive and MCP over it, connecting as Claude Code.

The bench runs its clients and the server on the same two cores, so a heavy client would eat
the CPU the server needs and squeeze every ratio towards 1. These clients do the least work a
correct client can: one asyncio stream per connection, hand-written request bytes, and just
enough response parsing (Content-Length and chunked bodies, server-sent events). The baseline
and the relay are driven by the very same code, so what the client costs cancels out.

They speak only to 127.0.0.1 and only what the bench needs; they are not general clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

MCP_PROTOCOL_VERSION: Final = "2025-11-25"
"""What Claude Code 2.1.330 negotiates with the relay (the handshake era, with a session id):
it probes 2026-07-28 first, the relay refuses that by default (``mcp_revisions = "push"``), and it
falls back to this. tests/plugin/test_claude_code_era.py checks it with the real binary."""

MODERN_PROTOCOL_VERSION: Final = "2026-07-28"
"""The revision of Claude Code's opening ``server/discover`` probe."""

CLAUDE_CODE_CAPABILITIES: Final[Mapping[str, Any]] = {
    "roots": {"listChanged": True},
    "elicitation": {"form": {}, "url": {}},
}
"""The capabilities Claude Code 2.1.330 declares in ``initialize`` (captured 2026-12-02). It
declares nothing about channels: the server declares ``claude/channel``."""

LOOPBACK: Final = "127.0.0.1"


class WireError(RuntimeError):
    """A server answered with an error status, a JSON-RPC error or a malformed response."""


@dataclass(frozen=True)
class Response:
    """A complete HTTP response."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def _request_head(
    method: str, path: str, host: str, headers: Mapping[str, str], length: int | None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to a loopback port; one request at a time."""

    def __init__(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.port = port
        self.host = f"{LOOPBACK}:{port}"
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        """Connect to ``127.0.0.1:port``."""
        reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=1 << 20)
        return cls(port, reader, writer)

    async def close(self) -> None:
        """Close the connection (a request still in flight is abandoned)."""
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def send_head(
        self, method: str, path: str, headers: Mapping[str, str], length: int | None
    ) -> None:
        """Write a request line and headers; the caller writes ``length`` body bytes next."""
        self._writer.write(_request_head(method, path, self.host, headers, length))

    async def send_body(self, chunk: bytes) -> None:
        """Write part of a request body, waiting while the socket buffer is full."""
        self._writer.write(chunk)
        await self._writer.drain()

    async def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """Send one request and read its whole response.

        A connection the server closed while it sat idle (uvicorn's keep-alive timeout, 30 s
        for the relay) is opened again first, as HTTP clients do: figure 7 parks hundreds of
        waiters, and those of one kind sit idle while the other kind's round runs.
        """
        if self._reader.at_eof():
            self._reader, self._writer = await asyncio.open_connection(
                LOOPBACK, self.port, limit=1 << 20
            )
        self._writer.write(
            _request_head(
                method, path, self.host, headers or {}, None if body is None else len(body)
            )
            + (body or b"")
        )
        status, response_headers = await self.read_head()
        return Response(status, response_headers, await self.read_body(response_headers))

    async def read_head(self) -> tuple[int, dict[str, str]]:
        """Read a status line and headers (names lower-cased)."""
        raw = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        try:
            status = int(status_line.split(" ", 2)[1])
        except (IndexError, ValueError):
            raise WireError(f"not an HTTP status line: {status_line!r}") from None
        headers = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def read_body(self, headers: Mapping[str, str]) -> bytes:
        """Read a whole body, sized by Content-Length or chunked."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join([chunk async for chunk in self.iter_chunks()])
        return await self._reader.readexactly(int(headers.get("content-length", "0")))

    async def iter_body(self, headers: Mapping[str, str], size: int) -> AsyncIterator[bytes]:
        """Yield a body of at most ``size``-byte pieces without holding it all."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            async for chunk in self.iter_chunks():
                yield chunk
            return
        left = int(headers.get("content-length", "0"))
        while left:
            chunk = await self._reader.read(min(size, left))
            if not chunk:
                raise WireError("connection closed inside a body")
            left -= len(chunk)
            yield chunk

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield the chunks of a chunked body as they arrive, until its last chunk."""
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers from these servers
                return
            chunk = await self._reader.readexactly(size + 2)
            yield chunk[:-2]


def sse_data(body: bytes) -> list[Any]:
    """The JSON payloads of every ``data:`` line in a server-sent event stream."""
    payloads = []
    for line in body.split(b"\n"):
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data:
                payloads.append(json.loads(data))
    return payloads


def tool_text(result: Mapping[str, Any]) -> str:
    """The text of a tool result (the first text content block)."""
    for block in result.get("content", []):
        if block.get("type") == "text":
            return str(block["text"])
    return ""


class McpSession:
    """An MCP client session over one HTTP connection: the handshake, then tool calls.

    Answers come back as server-sent events (the relay's default transport), so this reads
    each POST's event stream to its end and picks out the JSON-RPC response.
    """

    def __init__(self, connection: HttpConnection, headers: Mapping[str, str]) -> None:
        self.connection = connection
        self._headers = {
            **headers,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        self._ids = itertools.count(1)
        self.session_id: str | None = None

    @classmethod
    async def open(cls, port: int, headers: Mapping[str, str], *, probe: bool = True) -> McpSession:
        """Connect as Claude Code does: the 2026-07-28 probe, then the initialize handshake.

        With ``probe`` the server must refuse the probe (else Claude Code would stay on
        2026-07-28, where there is no push and no session); without it, the handshake alone.
        """
        session = cls(await HttpConnection.open(port), headers)
        if probe:
            await session.discover_probe()
        result = await session.rpc(
            "initialize",
            {
                "protocolVersion": MCP_PROTOCOL_VERSION,
                "capabilities": dict(CLAUDE_CODE_CAPABILITIES),
                "clientInfo": {"name": "agent-relay-bench", "version": "1"},
            },
        )
        if result.get("protocolVersion") != MCP_PROTOCOL_VERSION:
            raise WireError(f"server negotiated {result.get('protocolVersion')!r}")
        await session.notify("notifications/initialized")
        return session

    async def discover_probe(self) -> None:
        """Claude Code's opening request; raises unless the server refuses it with a 4xx."""
        _, body = self.rpc_bytes(
            "server/discover",
            {
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
                    "io.modelcontextprotocol/clientInfo": {
                        "name": "agent-relay-bench",
                        "version": "1",
                    },
                    "io.modelcontextprotocol/clientCapabilities": dict(CLAUDE_CODE_CAPABILITIES),
                }
            },
        )
        headers = {
            **self._headers,
            "MCP-Protocol-Version": MODERN_PROTOCOL_VERSION,
            "Mcp-Method": "server/discover",
        }
        answer = await self.connection.request("POST", "/mcp", headers, body)
        if not 400 <= answer.status < 500:
            raise WireError(
                f"server/discover at {MODERN_PROTOCOL_VERSION}: HTTP {answer.status}; Claude Code "
                'would stay on that revision (run the relay with mcp_revisions = "push")'
            )

    async def close(self) -> None:
        """Close the connection (the server drops the session when it idles out)."""
        await self.connection.close()

    def headers(self) -> dict[str, str]:
        """The headers of a request in this session."""
        if self.session_id is None:
            return dict(self._headers)
        return {
            **self._headers,
            "Mcp-Session-Id": self.session_id,
            "MCP-Protocol-Version": MCP_PROTOCOL_VERSION,
        }

    async def notify(self, method: str) -> None:
        """Send a JSON-RPC notification (answered with 202 and no body)."""
        body = json.dumps({"jsonrpc": "2.0", "method": method}).encode()
        answer = await self.connection.request("POST", "/mcp", self.headers(), body)
        if answer.status >= 300:
            raise WireError(f"{method}: HTTP {answer.status} {answer.body[:200]!r}")

    def rpc_bytes(self, method: str, params: Mapping[str, Any]) -> tuple[int, bytes]:
        """A JSON-RPC request's id and body."""
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params)}
        return request_id, json.dumps(body, separators=(",", ":")).encode()

    async def rpc(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a JSON-RPC request and return its result."""
        request_id, body = self.rpc_bytes(method, params)
        answer = await self.connection.request("POST", "/mcp", self.headers(), body)
        if answer.status >= 300:
            raise WireError(f"{method}: HTTP {answer.status} {answer.body[:200]!r}")
        if self.session_id is None:
            self.session_id = answer.headers.get("mcp-session-id")
        payloads = (
            [answer.json()]
            if answer.headers.get("content-type", "").startswith("application/json")
            else sse_data(answer.body)
        )
        for payload in payloads:
            if payload.get("id") == request_id:
                if "error" in payload:
                    raise WireError(f"{method}: {payload['error']}")
                return dict(payload["result"])
        raise WireError(f"{method}: no response with id {request_id} in {answer.body[:200]!r}")

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Call a tool; a tool error raises :class:`WireError`."""
        result = await self.rpc("tools/call", {"name": tool, "arguments": dict(arguments)})
        if result.get("isError"):
            raise WireError(f"{tool}: {tool_text(result)}")
        return result


class EventStream:
    """The standalone GET stream of an MCP session: server-to-client notifications."""

    def __init__(self, connection: HttpConnection) -> None:
        self.connection = connection
        self._buffer = b""
        self._chunks: AsyncIterator[bytes] | None = None

    @classmethod
    async def open(cls, port: int, session: McpSession) -> EventStream:
        """Open the GET stream of ``session`` on a connection of its own."""
        connection = await HttpConnection.open(port)
        headers = {**session.headers(), "Accept": "text/event-stream"}
        headers.pop("Content-Type", None)
        await connection.send_head("GET", "/mcp", headers, None)
        status, response_headers = await connection.read_head()
        if status != 200:
            raise WireError(f"GET /mcp: HTTP {status}")
        stream = cls(connection)
        stream._chunks = connection.iter_body(response_headers, 1 << 16)
        return stream

    async def next_message(self) -> dict[str, Any]:
        """The next JSON-RPC message on the stream (waits for it)."""
        assert self._chunks is not None
        while True:
            event, sep, rest = self._buffer.partition(b"\n\n")
            if sep:
                self._buffer = rest
                payloads = sse_data(event)
                if payloads:
                    return dict(payloads[0])
                continue
            try:
                # sse-starlette ends lines with CRLF; a CR left at a chunk's end meets its LF
                # on the next pass, so normalising the whole buffer is safe.
                self._buffer = (self._buffer + await anext(self._chunks)).replace(b"\r\n", b"\n")
            except StopAsyncIteration:
                raise WireError("the event stream ended") from None

    async def close(self) -> None:
        """Close the stream's connection."""
        await self.connection.close()

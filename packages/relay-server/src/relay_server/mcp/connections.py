"""MCP sessions per client: a cap, and which sessions hold a live push stream.

The MCP SDK (mcp 2.3) keeps the handshake era's stateful sessions in its
``StreamableHTTPSessionManager``: one global cap (``max_sessions``, 10 000; at the cap every new
session is refused with 503) and an idle timeout (``session_idle_timeout``: a session with no
request in flight, an open GET stream included, is closed after that long). Nothing stops one
client from filling the global cap. Here each authenticated client may hold at most
``max_per_client`` sessions; opening one more closes that client's least recently active
session, idle ones first. Closing rather than refusing is what a crashed and restarted Claude
Code needs: the sessions it left behind are its oldest and idlest, and it must get in at once.
A client that opens sessions in a loop only ever loses its own.

The bookkeeping is an ASGI middleware after authentication, and reads only HTTP: the
``Mcp-Session-Id`` header the SDK answers an opening request with, the requests that carry it,
and the GET requests that hold a session's standalone stream open. Live push asks
:meth:`McpSessions.has_live_stream` so it sends nothing to a session nobody listens to.

Closing a session needs the SDK's transport for it, which the manager keeps private: that
reach-in is :func:`sdk_session_transports`, checked at start (:meth:`McpSessions.bind`) and by a
test, so an SDK upgrade that moves it fails loudly instead of leaving the cap unenforced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay_core.wire import MCP_PATH
from relay_server.request_scope import CALLER_SCOPE_KEY, TOKEN_HASH_SCOPE_KEY

log = logging.getLogger(__name__)

SESSION_HEADER: Final = b"mcp-session-id"


class Terminable(Protocol):
    """The part of the SDK's session transport used here."""

    async def terminate(self) -> None: ...


def sdk_session_transports(manager: object) -> MutableMapping[str, Terminable]:
    """The SDK session manager's table of open sessions (session id -> transport).

    mcp 2.3 keeps it private (``_server_instances``), as FastMCP's own shutdown code also reads
    it; there is no public way to close a session from the server side. This is the one place
    that reaches in.

    Raises:
        RuntimeError: the SDK changed shape (an upgrade): the per-client cap cannot work.
    """
    table = getattr(manager, "_server_instances", None)
    if not isinstance(manager, StreamableHTTPSessionManager) or not isinstance(table, dict):
        raise RuntimeError(
            "cannot find the MCP SDK's table of open sessions: the per-client session cap "
            "needs StreamableHTTPSessionManager._server_instances (mcp 2.3)"
        )
    return table


def session_manager_of(app: Any) -> StreamableHTTPSessionManager | None:
    """The SDK session manager serving ``/mcp`` in FastMCP's app (exists once its lifespan ran).

    Raises:
        RuntimeError: no ``/mcp`` route with a session manager slot (FastMCP changed shape).
    """
    route = next(
        (r for r in app.router.routes if isinstance(r, Route) and r.path == MCP_PATH), None
    )
    if route is None or not hasattr(route.endpoint, "session_manager"):
        raise RuntimeError("cannot find FastMCP's /mcp route and its session manager")
    manager = route.endpoint.session_manager
    return manager if isinstance(manager, StreamableHTTPSessionManager) else None


@dataclass
class SessionRecord:
    """What the relay knows of one MCP session."""

    session_id: str
    client_id: str
    last_active: float
    """Monotonic time a request of this session last started or ended."""
    in_flight: int = 0
    """Requests being served, an open GET stream included."""
    streams: int = 0
    """Open GET requests (the standalone stream push writes to)."""
    token_hash: str | None = None
    """Hash of the per-client token that opened the session (None in the other modes): a
    session lives only as long as that token (see :mod:`relay_server.revocation`)."""


class McpSessions:
    """Per-client MCP session bookkeeping: the cap, and live push streams."""

    def __init__(self, max_per_client: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_per_client < 1:
            raise ValueError("max_per_client must be at least 1")
        self.max_per_client = max_per_client
        self._clock = clock
        self._records: dict[str, SessionRecord] = {}
        self._by_client: dict[str, dict[str, SessionRecord]] = {}
        self._manager: StreamableHTTPSessionManager | None = None
        self._stream_watchers: list[Callable[[str, bool], None]] = []
        self.closed_over_cap = 0
        """How many sessions were closed to make room (for tests and status)."""
        self.closed_revoked = 0
        """How many sessions were closed because their token was replaced or removed."""

    def bind(self, manager: StreamableHTTPSessionManager | None) -> None:
        """Use ``manager`` to close sessions (call from the lifespan, once it exists).

        Raises:
            RuntimeError: the SDK changed shape (see :func:`sdk_session_transports`).
        """
        if manager is not None:
            sdk_session_transports(manager)
        self._manager = manager

    def watch_streams(self, callback: Callable[[str, bool], None]) -> None:
        """Call ``callback(session_id, open)`` when a session's GET stream opens or closes."""
        self._stream_watchers.append(callback)

    def has_live_stream(self, session_id: str | None) -> bool:
        """True when a GET stream of ``session_id`` is open right now."""
        record = self._records.get(session_id) if session_id else None
        return record is not None and record.streams > 0

    def sessions_of(self, client_id: str) -> list[str]:
        """The session ids the relay counts for ``client_id``, oldest first."""
        return list(self._by_client.get(client_id, ()))

    def record(self, session_id: str, client_id: str) -> SessionRecord | None:
        """The record of ``session_id`` if ``client_id`` owns it."""
        record = self._records.get(session_id)
        return record if record is not None and record.client_id == client_id else None

    def records(self) -> list[SessionRecord]:
        """Every session the relay counts (a copy: closing some while iterating is fine)."""
        return list(self._records.values())

    def opened(self, session_id: str, client_id: str, token_hash: str | None = None) -> None:
        """Count a session the SDK just opened for ``client_id`` (with that token)."""
        record = SessionRecord(
            session_id, client_id, last_active=self._clock(), token_hash=token_hash
        )
        self._records[session_id] = record
        self._by_client.setdefault(client_id, {})[session_id] = record

    def forget(self, session_id: str) -> None:
        """Stop counting a session (it ended)."""
        record = self._records.pop(session_id, None)
        if record is None:
            return
        if record.streams:
            record.streams = 0
            self._streams_changed(session_id, False)
        mine = self._by_client.get(record.client_id)
        if mine is not None:
            mine.pop(session_id, None)
            if not mine:
                del self._by_client[record.client_id]

    def started(self, record: SessionRecord, stream: bool) -> None:
        """A request of the session started (``stream``: a GET stream opened)."""
        record.in_flight += 1
        record.last_active = self._clock()
        if stream:
            record.streams += 1
            if record.streams == 1 and record.session_id in self._records:
                self._streams_changed(record.session_id, True)

    def finished(self, record: SessionRecord, stream: bool) -> None:
        """A request of the session ended."""
        record.in_flight -= 1
        record.last_active = self._clock()
        if stream and record.streams > 0:
            record.streams -= 1
            if record.streams == 0 and record.session_id in self._records:
                self._streams_changed(record.session_id, False)

    def _streams_changed(self, session_id: str, open_: bool) -> None:
        for callback in self._stream_watchers:
            callback(session_id, open_)

    def over_cap(self, client_id: str, keep: str) -> list[str]:
        """The sessions of ``client_id`` to close so it holds at most ``max_per_client``.

        Sessions the SDK already ended (idle timeout, crash) are forgotten first and do not
        count. Then the idle ones go before those with a request in flight, least recently
        active first; ``keep`` (the session just opened) never goes.
        """
        self._forget_ended(client_id)
        mine = self._by_client.get(client_id, {})
        excess = len(mine) - self.max_per_client
        if excess <= 0:
            return []
        candidates = sorted(
            (r for r in mine.values() if r.session_id != keep),
            key=lambda r: (r.in_flight > 0, r.last_active),
        )
        return [r.session_id for r in candidates[:excess]]

    async def close(self, session_id: str) -> bool:
        """Close a session the way the SDK's idle timeout does; its id then answers 404.

        Its GET stream ends, and push stops at once: the session is forgotten before any
        await, so it has no live stream from here on. True when the SDK still had it open.
        """
        self.forget(session_id)
        transport = self.sdk_transports().get(session_id)
        if transport is None:
            return False
        await transport.terminate()
        return True

    def sdk_transports(self) -> MutableMapping[str, Terminable]:
        """The SDK's open sessions (empty until bound)."""
        return sdk_session_transports(self._manager) if self._manager is not None else {}

    def _forget_ended(self, client_id: str) -> None:
        if self._manager is None:
            return
        alive = self.sdk_transports()
        for session_id in [s for s in self._by_client.get(client_id, ()) if s not in alive]:
            self.forget(session_id)
        # Records of clients that never come back are swept now and then, in bulk.
        if len(self._records) > 2 * len(alive) + 64:
            for session_id in [s for s in self._records if s not in alive]:
                self.forget(session_id)


class McpSessionMiddleware:
    """Feeds :class:`McpSessions` from ``/mcp`` requests and enforces the per-client cap.

    Runs after authentication: the caller in the scope is who owns a session (the SDK checks
    the same identity on every request of a session).
    """

    def __init__(self, app: ASGIApp, sessions: McpSessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = scope.get(CALLER_SCOPE_KEY) if scope["type"] == "http" else None
        if caller is None or scope["path"] != MCP_PATH:
            await self.app(scope, receive, send)
            return
        session_id = _header(scope, SESSION_HEADER)
        if session_id is None:
            await self._opening(caller, scope, receive, send)
            return
        record = self.sessions.record(session_id, caller)
        token_hash = scope.get(TOKEN_HASH_SCOPE_KEY)
        if record is not None and record.token_hash not in (None, token_hash):
            # The caller got in with another token of the same client than the one that
            # opened the session. A client has one token, so the session's was replaced: the
            # session goes with it, and the SDK answers this request 404.
            log.info(
                "closing MCP session %s of %s: its token was replaced", session_id[:12], caller
            )
            if await self.sessions.close(session_id):
                self.sessions.closed_revoked += 1
            record = None
        if record is None:
            await self.app(scope, receive, send)
            return
        stream = scope["method"] == "GET"
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.sessions.started(record, stream)
        try:
            await self.app(scope, receive, watch)
        finally:
            self.sessions.finished(record, stream)
        if status == 404 or (scope["method"] == "DELETE" and status < 300):
            self.sessions.forget(session_id)

    async def _opening(self, caller: str, scope: Scope, receive: Receive, send: Send) -> None:
        """A request without a session id: when the SDK opens a session, count it."""
        opened: str | None = None

        async def watch(message: Message) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and message["status"] < 400:
                opened = _header(message, SESSION_HEADER)
                if opened is not None:
                    # Before the answer reaches the client, which may use the id at once.
                    self.sessions.opened(opened, caller, scope.get(TOKEN_HASH_SCOPE_KEY))
            await send(message)

        await self.app(scope, receive, watch)
        if opened is None:
            return
        for session_id in self.sessions.over_cap(caller, keep=opened):
            log.info(
                "closing MCP session %s of %s: over %d sessions per client",
                session_id[:12],
                caller,
                self.sessions.max_per_client,
            )
            if await self.sessions.close(session_id):
                self.sessions.closed_over_cap += 1


def _header(scope_or_message: MutableMapping[str, Any], name: bytes) -> str | None:
    for key, value in scope_or_message.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None

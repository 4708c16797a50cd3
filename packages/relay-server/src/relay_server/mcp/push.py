"""Live push: new messages sent to live MCP connections as Claude Code channel events.

Every MCP connection with a standalone stream (the handshake era's GET stream, which Claude Code
opens) gets one pump, keyed by the *authenticated client*, never by MCP session id. One
:meth:`RelayService.watch` per client hands each committed message to those of the client's
pumps whose GET stream is open; messages arrive in commit (= id) order, so a pump sends each as
it is: no database read and no thread hop per message. A pump reads the store
(:meth:`RelayService.poll` from its cursor) only to fill a gap: news without its message, or
more queued than ``MAX_QUEUED`` because the client reads slowly. Either way each connection
gets a message at most once, in id order.

A connection whose GET stream is not open right now (a Claude Code that crashed or slept and
left its session behind) is not in its client's feed at all (``connections.McpSessions`` says when
streams open and close), so it costs a send nothing; the SDK would drop the notification anyway.
Push is best-effort on top of the durable store: whatever a client missed, it reads with
``read_messages``.

Before each send a pump asks :class:`~relay_server.revocation.Revocation` whether a token change
is being dealt with (one ``stat``) and waits for it, then sends only if its session's GET stream
is still open: a session whose per-client token was replaced or removed is closed, not pushed to.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any, Final, Protocol

import anyio
from fastmcp.server.dependencies import fastmcp_request_ctx
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp.server.connection import Connection
from mcp.server.session import ServerSession

from relay_core import Message, RelayError
from relay_core.wire import MAX_PAGE_SIZE
from relay_server.mcp.channel_event import channel_params
from relay_server.service import RelayService, Watch

log = logging.getLogger(__name__)

CHANNEL_CAPABILITY: Final = "claude/channel"
CHANNEL_METHOD: Final = "notifications/claude/channel"
MAX_QUEUED: Final = 1000
"""Messages one connection may have waiting; past that its pump catches up from the store."""
_PUMP_STATE_KEY: Final = "relay.push"


def connection_of(session: ServerSession) -> Connection | None:
    """The Connection behind a request's ServerSession.

    mcp 2.3 keeps it private on the session; FastMCP exposes no public route to the
    connection-scoped channel or its teardown stack. This is the one place that reaches in.
    """
    connection = getattr(session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


class StreamWatch(Protocol):
    """Which MCP sessions have their GET stream open (see ``connections.McpSessions``)."""

    def has_live_stream(self, session_id: str | None) -> bool: ...

    def watch_streams(self, callback: Callable[[str, bool], None]) -> None: ...


class TokenChanges(Protocol):
    """Waits out the closing of what replaced tokens hold (see ``revocation.Revocation``)."""

    async def settled(self) -> None: ...


class LivePush:
    """Runs one pump per live MCP connection and stops it when the connection closes.

    With ``streams``, a pump receives messages only while its session's GET stream is open; a
    client none of whose connections listens has no watch at all, so what it left
    behind costs a send nothing. Without ``streams`` every connection counts as listening.
    """

    def __init__(
        self,
        service: RelayService,
        streams: StreamWatch | None = None,
        token_changes: TokenChanges | None = None,
    ) -> None:
        self.service = service
        self.streams = streams
        self.token_changes = token_changes
        self.pumps = 0
        self.offered = 0
        """Messages (or gaps) handed to pumps (for tests: work per send)."""
        self.pushed = 0
        """Notifications handed to connections (for tests and the bench)."""
        self.store_reads = 0
        """Database reads the pumps made (gaps and the first cursor), for tests."""
        self._feeds: dict[str, _ClientFeed] = {}
        self._by_session: dict[str, _Pump] = {}
        self._floor: int | None = None
        if streams is not None:
            streams.watch_streams(self._stream_changed)

    def attach(self, caller: str, connection: Connection) -> None:
        """Start pushing to ``connection`` for ``caller`` (idempotent per connection)."""
        if not connection.has_standalone_channel or _PUMP_STATE_KEY in connection.state:
            return
        pump = _Pump(self, caller, connection)
        feed = self._feeds.get(caller)
        if feed is None:
            feed = self._feeds[caller] = _ClientFeed(self, caller)
        feed.pumps.add(pump)
        if connection.session_id is not None:
            self._by_session[connection.session_id] = pump
        if self.streams is None or self.streams.has_live_stream(connection.session_id):
            feed.listen(pump)
        self.pumps += 1
        task = asyncio.get_running_loop().create_task(pump.run())
        connection.state[_PUMP_STATE_KEY] = pump
        connection.exit_stack.callback(self._detach, feed, pump, task)

    def _detach(self, feed: _ClientFeed, pump: _Pump, task: asyncio.Task[None]) -> None:
        task.cancel()
        self.pumps -= 1
        feed.unlisten(pump)
        feed.pumps.discard(pump)
        if self._by_session.get(pump.connection.session_id or "") is pump:
            del self._by_session[pump.connection.session_id or ""]
        if not feed.pumps and self._feeds.get(feed.caller) is feed:
            del self._feeds[feed.caller]

    def _stream_changed(self, session_id: str, open_: bool) -> None:
        pump = self._by_session.get(session_id)
        feed = self._feeds.get(pump.caller) if pump is not None else None
        if pump is None or feed is None:
            return  # no pump yet: attach() asks when it comes
        if open_:
            pump.resume()
            feed.listen(pump)
        else:
            feed.unlisten(pump)

    async def start_cursor(self) -> int:
        """The id a new pump starts after: the newest message the relay has stored.

        The service knows it once a message was delivered; before that (just after a start) it is
        read once from the store.
        """
        delivered = self.service.newest_delivered_id()
        if delivered:
            return delivered
        if self._floor is None:
            self.store_reads += 1
            self._floor = await anyio.to_thread.run_sync(self.service.latest_message_id)
        return max(self._floor, self.service.newest_delivered_id())

    async def allows(self, caller: str, sender: str) -> bool:
        """Whether ``caller`` takes pushes from ``sender`` (its push allowlist, if it set one);
        a message it does not take stays in the store, readable, just not pushed."""
        service = self.service
        if service.push_allowlist_known(caller):
            allowed = service.push_allowlist(caller)
        else:
            allowed = await anyio.to_thread.run_sync(service.push_allowlist, caller)
        return allowed is None or sender in allowed

    async def notify_client(self, caller: str, method: str, params: dict[str, Any]) -> int:
        """Send one notification to each of ``caller``'s listening connections; how many."""
        feed = self._feeds.get(caller)
        sent = 0
        for pump in tuple(feed.listening if feed is not None else ()):
            await pump.connection.outbound.notify(method, params)
            sent += 1
        return sent

    async def read_after(self, caller: str, cursor: int) -> tuple[list[Message], bool]:
        """One page of what ``caller`` may read after ``cursor``, from the store; and has_more."""
        self.store_reads += 1
        try:
            page = await anyio.to_thread.run_sync(
                self.service.poll, caller, None, cursor, MAX_PAGE_SIZE
            )
        except RelayError:  # e.g. the client was removed; nothing to push
            return [], False
        return page.messages, page.has_more


class _ClientFeed:
    """One client's pumps, and its one watch while any of them listens."""

    def __init__(self, push: LivePush, caller: str) -> None:
        self.caller = caller
        self.pumps: set[_Pump] = set()
        self.listening: set[_Pump] = set()
        self._push = push
        self._watch: Watch | None = None

    def listen(self, pump: _Pump) -> None:
        self.listening.add(pump)
        if self._watch is None:
            self._watch = self._push.service.watch(self.caller, self._heard)

    def unlisten(self, pump: _Pump) -> None:
        self.listening.discard(pump)
        if not self.listening and self._watch is not None:
            self._watch.stop()
            self._watch = None

    def _heard(self, message: Message | None) -> None:
        for pump in self.listening:
            self._push.offered += 1
            pump.offer(message)


class _Pump:
    """Sends one connection its client's new messages, in id order, each once."""

    def __init__(self, push: LivePush, caller: str, connection: Connection) -> None:
        self.push = push
        self.caller = caller
        self.connection = connection
        self.cursor: int | None = None
        """The last id sent (or skipped as older than the pump); None until it started."""
        self.queue: collections.deque[Message] = collections.deque()
        self.gap = False
        self.woken = asyncio.Event()

    def offer(self, message: Message | None) -> None:
        """Queue a message, or note a gap for None (on the loop thread; never blocks)."""
        if message is None or len(self.queue) >= MAX_QUEUED:
            self.gap = True
            self.queue.clear()
        else:
            self.queue.append(message)
        self.woken.set()

    def resume(self) -> None:
        """The GET stream is open again: what came while it was shut is not sent later."""
        if self.cursor is not None and not self.queue and not self.gap:
            self.cursor = max(self.cursor, self.push.service.newest_delivered_id())

    async def run(self) -> None:
        try:
            self.cursor = await self.push.start_cursor()
            while True:
                await self.woken.wait()
                self.woken.clear()
                await self._drain()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live push to %s stopped", self.caller)

    async def _drain(self) -> None:
        while self.queue or self.gap:
            if self.gap:
                self.gap = False
                self.queue.clear()  # the store has all of it, in order
                await self._catch_up()
                continue
            message = self.queue.popleft()
            if self.cursor is not None and message.id <= self.cursor:
                continue  # sent by a catch-up already, or older than this pump
            await self._send(message)

    async def _catch_up(self) -> None:
        assert self.cursor is not None
        more = True
        while more:
            messages, more = await self.push.read_after(self.caller, self.cursor)
            for message in messages:
                await self._send(message)

    async def _send(self, message: Message) -> None:
        push = self.push
        if push.token_changes is not None:
            await push.token_changes.settled()
        if push.streams is not None and not push.streams.has_live_stream(
            self.connection.session_id
        ):
            return  # closed meanwhile (its token changed, or it went away): nobody listens
        if message.sender != self.caller and not await push.allows(self.caller, message.sender):
            self.cursor = message.id  # gated: stored and readable, not pushed
            return
        await self.connection.outbound.notify(CHANNEL_METHOD, channel_params(message))
        self.cursor = message.id
        self.push.pushed += 1
        push.service.note_pushed(self.caller, message.id)  # delivered (written in batches)


class PushRegistration(Middleware):
    """Attaches every authenticated MCP connection that has a standalone stream to LivePush."""

    def __init__(self, push: LivePush, caller_of_request: Any) -> None:
        self.push = push
        self.caller_of_request = caller_of_request

    async def on_message(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        request_context = fastmcp_request_ctx.get()
        if request_context is not None:
            connection = connection_of(request_context.session)
            caller = self.caller_of_request()
            if connection is not None and caller:
                self.push.attach(caller, connection)
        return await call_next(context)

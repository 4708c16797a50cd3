"""Live push: new messages sent to live MCP connections as Claude Code channel events.

Every MCP connection with a standalone stream (the handshake era's GET stream, which Claude Code
opens) gets one pump, keyed by the *authenticated client*, never by MCP session id. One event
hub listener per client hands each :class:`~relay_server.events.Posted` event to that client's
pumps; the event carries the committed message and events arrive in commit (= id) order, so a
pump sends it as it is: no database read and no thread hop per message. A pump reads the store
(:meth:`RelayService.poll` from its cursor) only to fill a gap: an event without its message,
or more queued than ``MAX_QUEUED`` because the client reads slowly. Either way each connection
gets a message at most once, in id order.

A connection whose GET stream is not open right now (a Claude Code that crashed or slept and
left its session behind) is skipped at no cost: the SDK would drop the notification anyway.
Push is best-effort on top of the durable store: whatever a client missed, it reads with
``read_messages``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any, Final

import anyio
from fastmcp.server.dependencies import fastmcp_request_ctx
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp.server.connection import Connection
from mcp.server.session import ServerSession

from relay_core import Message, RelayError
from relay_core.wire import MAX_PAGE_SIZE
from relay_server.channel_event import channel_params
from relay_server.events import EventHub, Posted
from relay_server.service import RelayService

log = logging.getLogger(__name__)

CHANNEL_CAPABILITY: Final = "claude/channel"
CHANNEL_METHOD: Final = "notifications/claude/channel"
MAX_QUEUED: Final = 1000
"""Messages one connection may have waiting; past that its pump catches up from the store."""
_PUMP_STATE_KEY: Final = "relay.push"

StreamCheck = Callable[[str | None], bool]
"""Whether the MCP session of that id has its GET stream open right now."""


def connection_of(session: ServerSession) -> Connection | None:
    """The Connection behind a request's ServerSession.

    mcp 2.3 keeps it private on the session; FastMCP exposes no public route to the
    connection-scoped channel or its teardown stack. This is the one place that reaches in.
    """
    connection = getattr(session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


class LivePush:
    """Runs one pump per live MCP connection and stops it when the connection closes."""

    def __init__(
        self, service: RelayService, hub: EventHub, streams: StreamCheck | None = None
    ) -> None:
        self.service = service
        self.hub = hub
        self.streams = streams
        self.pumps = 0
        self.pushed = 0
        """Notifications handed to connections (for tests and the bench)."""
        self.store_reads = 0
        """Database reads the pumps made (gaps and the first cursor), for tests."""
        self._feeds: dict[str, _ClientFeed] = {}
        self._floor: int | None = None

    def attach(self, caller: str, connection: Connection) -> None:
        """Start pushing to ``connection`` for ``caller`` (idempotent per connection)."""
        if not connection.has_standalone_channel or _PUMP_STATE_KEY in connection.state:
            return
        pump = _Pump(self, caller, connection)
        feed = self._feeds.get(caller)
        if feed is None:
            feed = self._feeds[caller] = _ClientFeed(self, caller)
        feed.pumps.add(pump)
        self.pumps += 1
        task = asyncio.get_running_loop().create_task(pump.run())
        connection.state[_PUMP_STATE_KEY] = pump
        connection.exit_stack.callback(self._detach, feed, pump, task)

    def _detach(self, feed: _ClientFeed, pump: _Pump, task: asyncio.Task[None]) -> None:
        task.cancel()
        self.pumps -= 1
        feed.pumps.discard(pump)
        if not feed.pumps:
            feed.close()
            if self._feeds.get(feed.caller) is feed:
                del self._feeds[feed.caller]

    def listening(self, connection: Connection) -> bool:
        """True when ``connection``'s GET stream is open (always, without stream tracking)."""
        return self.streams is None or self.streams(connection.session_id)

    async def start_cursor(self) -> int:
        """The id a new pump starts after: the newest message the relay has stored.

        The hub knows it once a message was delivered; before that (just after a start) it is
        read once from the store.
        """
        if self.hub.last_message_id:
            return self.hub.last_message_id
        if self._floor is None:
            self.store_reads += 1
            self._floor = await anyio.to_thread.run_sync(self.service.latest_message_id)
        return max(self._floor, self.hub.last_message_id)

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
    """One event hub listener for all of one client's pumps."""

    def __init__(self, push: LivePush, caller: str) -> None:
        self.caller = caller
        self.pumps: set[_Pump] = set()
        self._push = push
        self.close = push.hub.subscribe([caller], self._posted)

    def _posted(self, event: Posted) -> None:
        for pump in self.pumps:
            if self._push.listening(pump.connection):
                pump.offer(event)
            else:
                pump.skip(event)


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

    def offer(self, event: Posted) -> None:
        """Queue an event's message (on the loop thread; never blocks)."""
        if event.message is None or len(self.queue) >= MAX_QUEUED:
            self.gap = True
            self.queue.clear()
        else:
            self.queue.append(event.message)
        self.woken.set()

    def skip(self, event: Posted) -> None:
        """Pass over an event nobody listens to (no GET stream): it is not sent later either."""
        if self.cursor is not None and not self.queue and not self.gap:
            self.cursor = max(self.cursor, event.message_id)

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
        await self.connection.outbound.notify(CHANNEL_METHOD, channel_params(message))
        self.cursor = message.id
        self.push.pushed += 1


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

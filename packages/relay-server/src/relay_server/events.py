"""Wake-ups: who must hear, right now, that a message was stored.

The service publishes a :class:`Posted` event after it commits (so a woken reader finds the row).
Long polls and live push hear of messages only through ``RelayService.watch``, which subscribes
here by client id, never by MCP session id; the app attaches the hub to its loop and the server
closes it on shutdown.
Publishing is safe from any thread; callbacks run on the event loop thread.

Events are delivered in the order they were published, from every thread: each goes through the
loop's FIFO callback queue (``call_soon_threadsafe``, or ``call_soon`` on the loop thread, never
a direct call that would overtake events already queued). The service publishes messages in
commit order, so listeners see message ids increase, and live push can send the message an
event carries without reading the database.

On PostgreSQL several relay processes write to one database, and each hears every commit, its
own and the others', from LISTEN/NOTIFY in commit order (:meth:`EventHub.follow_announcements`).
The hub then delivers only what was announced, in that order: an event this process published
waits for its announcement and is delivered then, with its message; a message another process
stored is delivered without one (listeners read the store). Delivering its own events at once
would let them overtake an earlier commit of another process still on its way, and a listener
that trusts id order (live push's cursor) would skip it. When announcements may have been lost
(the listening connection was cut), :meth:`EventHub.resync` wakes every listener to re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from relay_core import Message

log = logging.getLogger(__name__)

MAX_HELD: Final = 10_000
"""Own events kept waiting for their announcement at most (the oldest go first)."""


@dataclass(frozen=True, slots=True)
class Posted:
    """A message was committed: its id, session and the clients that may read it."""

    message_id: int
    session: str
    sender: str
    recipients: frozenset[str]
    message: Message | None = None
    """The committed message itself, so push needs no database read; None from a source that
    cannot carry it (listeners then read the store)."""


Listener = Callable[[Posted], None]


class EventHub:
    """Fans :class:`Posted` events out to listeners registered per client id."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: dict[str, set[Listener]] = {}
        self._commit_order = threading.Lock()
        self.last_message_id = 0
        """The highest message id delivered so far (0 before the first)."""
        self._on_close: set[Callable[[], None]] = set()
        self.closed = False
        self._held: dict[int, Posted] | None = None
        """Own events waiting for their announcement (None: no announcements, deliver at once)."""
        self._announced = 0
        self._held_lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` from now on (called once the server's loop runs)."""
        self._loop = loop

    def publish(self, event: Posted) -> None:
        """Announce ``event``; callable from any thread, never blocks."""
        if self._held is not None:
            with self._held_lock:
                if event.message_id > self._announced:  # else announced already, without it
                    self._held[event.message_id] = event
                if len(self._held) > MAX_HELD:  # no announcements for a while: the resync
                    del self._held[min(self._held)]  # after reconnecting wakes its readers
            return
        self._enqueue(event)

    def follow_announcements(self) -> None:
        """From now on deliver only what :meth:`announced` names, in its order (see the module)."""
        with self._held_lock:
            self._held = {}

    def announced(self, message_id: int, unheld: Callable[[], Posted]) -> None:
        """Message ``message_id`` committed (from the thread that hears commits, in their order).

        Delivers this process's own event for it, or else ``unheld()`` (an event without its
        message). Own events held for smaller ids lost their announcement: they go first.
        """
        with self._held_lock:
            held = self._held if self._held is not None else {}
            self._announced = max(self._announced, message_id)
            due = sorted(i for i in held if i <= message_id)
            events = [held.pop(i) for i in due]
        if not events or events[-1].message_id != message_id:
            events.append(unheld())
        for event in events:
            self._enqueue(event)

    def resync(self) -> None:
        """Announcements may have been lost: wake every listener with news that carries no
        message, so each reads the store (callable from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver_to_all)

    def _deliver_to_all(self) -> None:
        everyone = frozenset(self._listeners)
        self.deliver(Posted(0, "", "", everyone))

    def _enqueue(self, event: Posted) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        # Through the queue even on the loop thread: a direct call would overtake events that
        # worker threads queued before this one, and listeners rely on publication order.
        if running is loop:
            loop.call_soon(self.deliver, event)
        else:
            loop.call_soon_threadsafe(self.deliver, event)

    def call_soon(self, callback: Callable[..., None], *args: object) -> None:
        """Run ``callback(*args)`` on the loop thread soon; callable from any thread. Dropped
        before the loop runs or after it closed, like every other delivery."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    @contextlib.contextmanager
    def after_commit(self) -> Iterator[Callable[[Posted], None]]:
        """Collect events during a transaction and publish them once it has committed.

        Enter it before the transaction (``with hub.after_commit() as publish, db.atomic():``):
        it holds a lock from before BEGIN until the events are out, so concurrent writers'
        events leave in the order their transactions committed. When the block raises (the
        transaction rolled back), nothing is published.
        """
        with self._commit_order:
            pending: list[Posted] = []
            yield pending.append
            for event in pending:
                self.publish(event)

    def deliver(self, event: Posted) -> None:
        """Call every listener of every recipient (on the loop thread)."""
        self.last_message_id = max(self.last_message_id, event.message_id)
        for client_id in event.recipients:
            for listener in tuple(self._listeners.get(client_id, ())):
                try:
                    listener(event)
                except Exception:  # one broken listener must not starve the others
                    log.exception("event listener failed for %s", client_id)

    def subscribe(self, client_ids: Iterable[str], listener: Listener) -> Callable[[], None]:
        """Register ``listener`` for events addressed to any of ``client_ids``.

        Returns the function that unsubscribes it.
        """
        ids = tuple(client_ids)
        for client_id in ids:
            self._listeners.setdefault(client_id, set()).add(listener)

        def unsubscribe() -> None:
            for client_id in ids:
                listeners = self._listeners.get(client_id)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._listeners[client_id]

        return unsubscribe

    def on_close(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the loop thread) when the hub closes; returns the undo."""
        self._on_close.add(callback)
        return lambda: self._on_close.discard(callback)

    def close(self) -> None:
        """The relay is shutting down: wake everyone waiting, so each can answer and go.

        Call it on the loop thread. Waiters check :attr:`closed` when they wake.
        """
        self.closed = True
        for callback in tuple(self._on_close):
            try:
                callback()
            except Exception:
                log.exception("close callback failed")

    def listener_count(self) -> int:
        """How many listeners are registered (the test relay's ``listeners()`` waits on it)."""
        return sum(len(v) for v in self._listeners.values())

"""Watching for messages: one registration that live push and the long polls share.

:meth:`WatchFeature.watch` hands a caller's listener every committed message the caller may
read, in commit (= id) order, on the event loop thread. Live push (``mcp/push.py``) sends what
it hears; a long poll (:meth:`WatchFeature.wait_for_messages`, :meth:`WatchFeature.read_or_wait`)
takes it as the cue to read its page again. Neither sees the event hub behind it, so the hub can
be replaced (LISTEN/NOTIFY for several replicas) without touching them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import anyio

from relay_core import Message, MessagePage, Unavailable
from relay_core.wire import DEFAULT_PAGE_SIZE, DEFAULT_WAIT_S
from relay_server.events import Posted
from relay_server.service import bounds
from relay_server.service.messages import MessagesFeature

log = logging.getLogger(__name__)

MessageListener = Callable[[Message | None], None]
"""Hears a committed message, or None when the news came without it (read the store then)."""


@dataclass(frozen=True, slots=True)
class Watch:
    """A caller's registration made by :meth:`WatchFeature.watch`."""

    _undo: tuple[Callable[[], None], ...]

    def stop(self) -> None:
        """Hear nothing more (safe to call twice)."""
        for undo in self._undo:
            undo()


class WatchFeature(MessagesFeature):
    """Watching for new messages: live listeners and the long polls built on them."""

    def watch(
        self,
        caller: str,
        listener: MessageListener,
        *,
        on_close: Callable[[], None] | None = None,
    ) -> Watch:
        """Call ``listener`` (on the event loop thread) for each new message ``caller`` may read.

        Messages arrive in commit order, so their ids increase; the caller's own messages are
        not among them. A listener gets None for news that did not carry the message: what it
        missed is in the store (:meth:`poll` from its last id). ``on_close`` is called when the
        relay starts shutting down. Register before reading the store, so nothing committed
        after that read goes unheard.
        """

        def posted(event: Posted) -> None:
            listener(event.message)

        undo = [self.hub.subscribe([caller], posted)]
        if on_close is not None:
            undo.append(self.hub.on_close(on_close))
        return Watch(tuple(undo))

    def newest_delivered_id(self) -> int:
        """The id of the newest message listeners have heard of (0 before the first).

        Costs no store read; before the first message since the start, ask
        :meth:`latest_message_id`.
        """
        return self.hub.last_message_id

    async def wait_for_messages(
        self,
        caller: str,
        name: str | None = None,
        after_id: int | None = None,
        timeout_s: float = DEFAULT_WAIT_S,
        limit: int = DEFAULT_PAGE_SIZE,
        record: bool = True,
    ) -> MessagePage:
        """Like :meth:`poll`, but when nothing is there, wait up to ``timeout_s`` for it."""
        bounds.timeout(timeout_s)
        fetch = partial(self.poll, caller, name, after_id, limit, record)
        return await self._long_poll(caller, name, fetch, timeout_s)

    async def read_or_wait(
        self,
        caller: str,
        name: str,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        wait_s: float = 0,
        record: bool = True,
    ) -> MessagePage:
        """:meth:`read_messages`, waiting up to ``wait_s`` when the page would be empty."""
        bounds.timeout(wait_s)
        fetch = partial(self.read_messages, caller, name, after_id, limit, False, record)
        return await self._long_poll(caller, name, fetch, wait_s)

    async def _long_poll(
        self,
        caller: str,
        name: str | None,
        fetch: Callable[[], MessagePage],
        timeout_s: float,
    ) -> MessagePage:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        woken = asyncio.Event()

        def heard(message: Message | None) -> None:
            if name is None or message is None or message.session == name:
                woken.set()

        # Watch before the first fetch: a message committed after the fetch read the table is
        # then guaranteed to set the event.
        watch = self.watch(caller, heard, on_close=woken.set)
        log.debug("%s waits up to %gs for %s", caller, timeout_s, name or "any session")
        try:
            while True:
                if self.hub.closed:
                    # Answer now, as an error the client retries, rather than be cut off
                    # mid-wait when the server's grace period ends.
                    raise Unavailable("the relay is shutting down; try again in a moment")
                woken.clear()
                page = await anyio.to_thread.run_sync(fetch)
                remaining = deadline - loop.time()
                if page.messages:
                    return page
                if remaining <= 0:
                    return page.model_copy(update={"timed_out": True})
                with anyio.move_on_after(remaining):
                    await woken.wait()
        finally:
            watch.stop()

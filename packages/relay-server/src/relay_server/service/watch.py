"""Waiting for messages: long polls that answer as soon as one arrives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

import anyio

from relay_core import MessagePage, Unavailable
from relay_core.wire import DEFAULT_PAGE_SIZE, DEFAULT_WAIT_S
from relay_server.events import Posted
from relay_server.service import bounds
from relay_server.service.messages import MessagesFeature

log = logging.getLogger(__name__)


class WatchFeature(MessagesFeature):
    """Long polls over :class:`MessagesFeature`."""

    async def wait_for_messages(
        self,
        caller: str,
        name: str | None = None,
        after_id: int | None = None,
        timeout_s: float = DEFAULT_WAIT_S,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> MessagePage:
        """Like :meth:`poll`, but when nothing is there, wait up to ``timeout_s`` for it."""
        bounds.timeout(timeout_s)
        fetch = partial(self.poll, caller, name, after_id, limit)
        return await self._long_poll(caller, name, fetch, timeout_s)

    async def read_or_wait(
        self,
        caller: str,
        name: str,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        wait_s: float = 0,
    ) -> MessagePage:
        """:meth:`read_messages`, waiting up to ``wait_s`` when the page would be empty."""
        bounds.timeout(wait_s)
        fetch = partial(self.read_messages, caller, name, after_id, limit)
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

        def on_posted(event: Posted) -> None:
            if name is None or event.session == name:
                woken.set()

        # Subscribe before the first fetch: a message committed after the fetch read the
        # table is then guaranteed to set the event.
        unsubscribe = self.hub.subscribe([caller], on_posted)
        stop_watching_close = self.hub.on_close(woken.set)
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
            unsubscribe()
            stop_watching_close()

"""A bound on the bytes of large MCP request bodies the relay handles at once (inline files).

An MCP ``upload_file`` call carries its file as base64 inside the JSON-RPC body. The MCP SDK reads
that body whole, parses it and hands the string to the tool, which decodes it: one 8 MiB file
costs some 30 MiB of memory while its call runs, and forty calls at once took the relay to
1.16 GiB. :class:`InlineBudgetMiddleware` therefore admits an MCP ``POST`` whose
``Content-Length`` is over :data:`LARGE_BODY_BYTES` only when its length fits beside the large
bodies already being handled. Otherwise it waits, before a byte of the body is read (the client's
bytes stay in the socket), up to ``wait_s``, then answers ``503 unavailable`` with
``Retry-After``. The room is held until the answer has been sent. Every smaller request (every
other tool call, the event stream) passes untouched.

One client may hold at most half the budget, and the budget is at least twice the largest body
the SDK accepts, so a client that declares large bodies and then sends them a byte at a time
cannot lock the others out. The client is the one the auth middleware resolved: in shared-token
and open mode that is whatever ``X-Client-Id`` says, so only per-client tokens make the share a
bound a hostile client cannot step around (as with the rate limit).
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from relay_core import Unavailable
from relay_core.wire import MCP_PATH
from relay_server.http.errors import send_error
from relay_server.request_scope import CALLER_SCOPE_KEY

LARGE_BODY_BYTES: Final = 256 * 1024
"""MCP request bodies up to this size pass without taking room (no tool call but
``upload_file`` comes near it: message texts are at most 64 KiB)."""


class InlineBudget:
    """Room for ``budget_bytes`` of large request bodies at once, half of it at most per client."""

    def __init__(self, budget_bytes: int, largest_body_bytes: int, wait_s: float) -> None:
        """``largest_body_bytes`` is the MCP body limit: no body weighs more than that."""
        self.largest_body_bytes = largest_body_bytes
        self.budget_bytes = max(budget_bytes, 2 * largest_body_bytes)
        self.share_bytes = self.budget_bytes // 2
        self.wait_s = wait_s
        self._held = 0
        self._held_by: dict[str, int] = {}
        self._waiters: list[asyncio.Future[None]] = []

    def held(self) -> int:
        """Bytes of large bodies being handled now."""
        return self._held

    def _fits(self, owner: str, size: int) -> bool:
        mine = self._held_by.get(owner, 0)
        return self._held + size <= self.budget_bytes and mine + size <= self.share_bytes

    async def acquire(self, owner: str, size: int) -> int | None:
        """Wait up to ``wait_s`` for room for a body of ``size`` bytes; the bytes taken, or None
        when there was no room in time. Pass what it returns to :meth:`release`.

        Everything runs on the event loop, and nothing awaits between the check and the taking,
        so no lock is needed.
        """
        size = min(size, self.largest_body_bytes)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while not self._fits(owner, size):
            room = loop.create_future()
            self._waiters.append(room)
            try:
                async with asyncio.timeout_at(deadline):
                    await room
            except TimeoutError:
                return None
            finally:
                if room in self._waiters:
                    self._waiters.remove(room)
        self._held += size
        self._held_by[owner] = self._held_by.get(owner, 0) + size
        return size

    def release(self, owner: str, size: int) -> None:
        """Give back what :meth:`acquire` took, and wake the requests waiting for room.

        Synchronous, so it also runs in a ``finally`` of a request being cancelled.
        """
        self._held -= size
        left = self._held_by.get(owner, 0) - size
        if left > 0:
            self._held_by[owner] = left
        else:
            self._held_by.pop(owner, None)
        waiters, self._waiters = self._waiters, []
        for room in waiters:
            if not room.done():
                room.set_result(None)


def _declared_length(scope: Scope, largest: int) -> int:
    """The body's ``Content-Length``; the largest body for one without (or with a bad) one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else largest
    return largest


class InlineBudgetMiddleware:
    """Makes large MCP request bodies wait for room in an :class:`InlineBudget` (or get 503)."""

    def __init__(self, app: ASGIApp, budget: InlineBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != MCP_PATH:
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope, self.budget.largest_body_bytes)
        if declared <= LARGE_BODY_BYTES:
            await self.app(scope, receive, send)
            return
        owner = str(scope.get(CALLER_SCOPE_KEY) or "")
        taken = await self.budget.acquire(owner, declared)
        if taken is None:
            retry = max(1, round(self.budget.wait_s))
            error = Unavailable(
                f"the relay is busy with other inline file uploads ({self.budget.budget_bytes} "
                f"bytes at once, half of it per client); retry in {retry} s, or send the file "
                "with `agent-relay send-file` (PUT /blobs/{sha256})",
                details={"retry_after_s": retry},
            )
            await send_error(scope, send, error, headers={"retry-after": str(retry)})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.budget.release(owner, taken)

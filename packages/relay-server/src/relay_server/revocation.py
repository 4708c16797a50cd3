"""Ending what a replaced or removed per-client token still holds open.

Authentication refuses a replaced or removed token from the next request on (see
:mod:`relay_server.token_marker`), but some requests got in before the change and are still
running: an MCP session's GET stream, which carries live push, and long-polls parked waiting for
a message. :class:`Revocation` ends them.

It runs a *sweep* when the token marker changed: it looks up, in the database, each token hash
that an MCP session or a parked request was let in with (one query per distinct token, in a
worker thread), closes every MCP session whose token no longer belongs to its client (its GET
stream ends, its id then answers 404) and answers every parked request of such a token ``401``.
Sessions and requests let in with a token that is still valid (the new one, other clients')
are not touched.

Nothing is missed: a ``GET`` is tracked before its token is checked, so a change either comes
before the check (which then refuses the token) or finds the request tracked; an MCP session is
counted before its opening answer reaches the client, and one opened with the old token just
before the change can only be used with the new one, which closes it (``McpSessionMiddleware``).

Nothing polls. A sweep starts when something notices the marker changed while doing its work
anyway: authentication, which looks at it on every per-client request
(:meth:`tokens_changed`), and a live push pump before it sends (:meth:`settled`, one ``stat``),
which waits for the sweep so that nothing is pushed to a session that is about to close. Until
either happens nothing reaches a revoked session: a message to push is a request first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol

import anyio

log = logging.getLogger(__name__)


class SessionRecord(Protocol):
    """One MCP session, as the session table keeps it."""

    @property
    def session_id(self) -> str: ...

    @property
    def client_id(self) -> str: ...

    @property
    def token_hash(self) -> str | None: ...


class SessionTable(Protocol):
    """The MCP sessions a token change may end (``mcp.connections.McpSessions`` is one)."""

    closed_revoked: int

    def records(self) -> Iterable[SessionRecord]: ...

    async def close(self, session_id: str) -> bool: ...


class ParkedRequest:
    """A per-client request that waits before answering (a long-poll); the sweep may end it."""

    def __init__(self, token_hash: str) -> None:
        self.token_hash = token_hash
        self.client_id: str | None = None
        """Who the token belonged to when checked; None until then."""
        self.cancel = anyio.CancelScope()
        self.answering = False
        """Set once its answer started: from then on it finishes normally."""
        self.revoked = False


class Revocation:
    """Closes MCP sessions and answers parked requests whose per-client token changed."""

    def __init__(
        self,
        sessions: SessionTable,
        *,
        tokens_version: Callable[[], Hashable],
        owner_of: Callable[[str], str | None],
    ) -> None:
        self.sessions = sessions
        self._tokens_version = tokens_version
        self._owner_of = owner_of
        self._swept: Hashable = tokens_version()
        self._parked: set[ParkedRequest] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweep: asyncio.Task[None] | None = None
        self.sweeps = 0
        """Sweeps run (for tests: nothing sweeps while tokens do not change)."""
        self.answered = 0
        """Parked requests answered 401 because their token changed."""

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run sweeps on ``loop`` (call from the lifespan)."""
        self._loop = loop

    def tokens_changed(self) -> None:
        """Authentication noticed the marker changed; safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._start()
        else:
            loop.call_soon_threadsafe(self._start)

    async def settled(self) -> None:
        """Return once no sweep is due: call before pushing (costs one ``stat`` otherwise)."""
        if self._sweep is None and self._tokens_version() != self._swept:
            self._start()
        while self._sweep is not None:
            await asyncio.shield(self._sweep)

    def park(self, token_hash: str) -> ParkedRequest:
        """Track a request the sweep may answer, from before its token is checked (so no change
        after that check is missed); :meth:`unpark` it when it is done."""
        request = ParkedRequest(token_hash)
        self._parked.add(request)
        return request

    def unpark(self, request: ParkedRequest) -> None:
        self._parked.discard(request)

    def _start(self) -> None:
        if self._sweep is None and self._loop is not None:
            self._sweep = self._loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._tokens_version() != self._swept:
                self.sweeps += 1
                self._swept = self._tokens_version()
                await self._sweep_once()
        except Exception:
            log.exception("could not end what replaced or removed tokens hold open")
        finally:
            self._sweep = None

    async def _sweep_once(self) -> None:
        valid: dict[str, bool] = {}
        while True:
            held: dict[str, str | None] = {p.token_hash: p.client_id for p in self._parked}
            held.update(
                (r.token_hash, r.client_id) for r in self.sessions.records() if r.token_hash
            )
            unknown = {h: c for h, c in held.items() if h not in valid}
            if not unknown:
                break  # sessions opened while the database was asked are checked too
            valid.update(await anyio.to_thread.run_sync(self._still_valid, unknown))
        for record in self.sessions.records():
            if record.token_hash and not valid.get(record.token_hash, True):
                log.info(
                    "closing MCP session %s of %s: its token was replaced or removed",
                    record.session_id[:12],
                    record.client_id,
                )
                if await self.sessions.close(record.session_id):
                    self.sessions.closed_revoked += 1
        for request in list(self._parked):
            if not valid.get(request.token_hash, True) and not request.answering:
                request.revoked = True
                request.cancel.cancel()
                self.answered += 1

    def _still_valid(self, held: dict[str, str | None]) -> dict[str, bool]:
        """Whether each token still belongs to its client (to anyone, for one not checked yet:
        it then gets the authentication's own answer)."""
        valid = {}
        for token_hash, owner in held.items():
            found = self._owner_of(token_hash)
            valid[token_hash] = found is not None and owner in (None, found)
        return valid

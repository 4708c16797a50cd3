"""Who belongs to a session, cached: one statement on a miss, none on a hit.

A send needs the session's id, whether it is closed, and its members; they change rarely
(invite, leave, close, a new session) and are read on every send and read. :func:`roster`
answers from a per-database cache and fills it with one statement (the session left-joined to
its participants, SQL built once).

The cache is emptied by the storage functions that change a session or its members (through
:func:`changed`), twice: at once, and again after the transaction commits, before the next
writer may begin. A fill races no writer: it keeps what it read only when no change was
announced since it started reading, so an entry never outlives a committed change. Whatever
changes sessions or participants must go through :mod:`.sessions` (or call :func:`changed`).

On PostgreSQL other relay processes change sessions too: their changes arrive as notifications
(:mod:`.postgres.notifications`), which call :func:`forget_all` a moment after the commit. Until
then a replica may answer from the roster as it was (a member invited a millisecond ago is
refused once, a member who just left may send once).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from peewee import JOIN, Database

from relay_core import Conflict, Forbidden, NotFound, validate_session_name
from relay_server.storage.models import Participant, Session, current

MAX_ENTRIES = 4096
"""The cache forgets everything when it would hold more sessions than this."""


@dataclass(frozen=True, slots=True)
class Roster:
    """A session's id, name, state and members, as last committed."""

    session_id: int
    name: str
    closed: bool
    members: frozenset[str]

    def member(self, caller: str) -> Roster:
        """This roster, or Forbidden when ``caller`` is not a member."""
        if caller not in self.members:
            raise self.refusal(caller)
        return self

    def refusal(self, caller: str) -> Forbidden:
        """The error for a ``caller`` that is not a member."""
        return Forbidden(
            f"{caller!r} is not a participant of session {self.name!r}; "
            "ask a participant to invite you",
            details={"session": self.name},
        )

    def open(self) -> Roster:
        """This roster, or Conflict when the session is closed."""
        if self.closed:
            raise Conflict(f"session {self.name!r} is closed", details={"session": self.name})
        return self


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, Roster] = {}
        self.generation = 0
        self.sql: str | None = None

    def clear(self) -> None:
        with self.lock:
            self.generation += 1
            self.entries.clear()


_caches: weakref.WeakKeyDictionary[Database, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache() -> _Cache:
    db = current()
    with _caches_lock:
        found = _caches.get(db)
        if found is None:
            found = _caches[db] = _Cache()
        return found


def _query_sql() -> str:
    probe = (
        Session.select(Session.id, Session.closed_ms, Participant.client)
        .join(Participant, JOIN.LEFT_OUTER)
        .where(Session.name == "")
    )
    sql, _ = probe.sql()
    return str(sql)


def roster(name: str) -> Roster:
    """The session named ``name`` and its members, or NotFound (the name is validated)."""
    cache = _cache()
    found = cache.entries.get(name)
    if found is not None:
        return found
    validate_session_name(name)
    with cache.lock:
        generation = cache.generation
        sql = cache.sql = cache.sql or _query_sql()
    execute: Callable[[str, tuple[str]], sqlite3.Cursor] = current().execute_sql
    rows = execute(sql, (name,)).fetchall()
    if not rows:
        raise NotFound(f"session {name!r} does not exist", details={"session": name})
    session_id, closed_ms, _ = rows[0]
    loaded = Roster(
        session_id=session_id,
        name=name,
        closed=closed_ms is not None,
        members=frozenset(client for _, _, client in rows if client is not None),
    )
    with cache.lock:
        if cache.generation == generation:
            if len(cache.entries) >= MAX_ENTRIES:
                cache.entries.clear()
            cache.entries[name] = loaded
    return loaded


def changed() -> None:
    """A session or its members change in the current transaction: forget every roster now,
    and again once the transaction has committed."""
    cache = _cache()
    cache.clear()
    when_committed: Callable[[Callable[[], None]], None] | None = getattr(
        current(), "when_committed", None
    )
    if when_committed is not None:
        when_committed(cache.clear)


def forget_all() -> None:
    """Another relay process changed a session or its members (or may have, unheard): forget
    every roster of the database bound here."""
    _cache().clear()

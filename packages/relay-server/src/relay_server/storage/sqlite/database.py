"""SQLite for the relay: one writer at a time across threads, a full disk as QuotaExceeded.

SQLite runs in WAL mode with ``synchronous=FULL`` (a send that returned is on disk, even after a
power cut), foreign keys on and a busy timeout. Peewee keeps one connection per thread, which is
what FastMCP's thread pool needs; every write transaction starts with ``BEGIN IMMEDIATE`` so a
read that turns into a write never fails with "database is locked". Within the relay process,
write transactions also queue on one lock (:class:`RelayDatabase`) rather than on SQLite's busy
handler, which sleeps in steps of up to 100 ms instead of waking when the lock frees.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from peewee import OperationalError, SqliteDatabase

from relay_core import QuotaExceeded
from relay_server.storage.sqlite.dialect import SqliteDialect

PRAGMAS: Final = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    # Memory: a page cache per connection, and a connection per worker thread (up to 40 of
    # anyio's). SQLite's default 2 MiB each, and SQLite giving cache pages back once the
    # process's SQLite heap passes 64 MiB (soft_heap_limit is process-wide), keep 64 readers of a
    # 1M-message store at 181 MiB of peak RSS (bench figure 11; 8 MiB caches: 242 MiB, the
    # 64 MiB caches of before: 722 MiB). No mmap: mapped pages of a big file count as RSS.
    "cache_size": -2_000,
    "soft_heap_limit": 64 * 1024 * 1024,
    "mmap_size": 0,
}


def _is_disk_full(exc: BaseException) -> bool:
    """True when SQLite failed because the disk is full."""
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, *seen.args):
            if getattr(candidate, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                return True
        seen = seen.__context__
    return "database or disk is full" in str(exc)


@contextlib.contextmanager
def _disk_full_is_quota() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if _is_disk_full(exc):
            raise QuotaExceeded(
                "the relay's disk is full: nothing was written; free some space on the relay host"
            ) from exc
        raise


class RelayDatabase(SqliteDatabase):
    """SQLite whose write transactions, across this process's threads, take turns on a lock.

    SQLite lets one writer in at a time; the others wait in its busy handler, which polls with
    sleeps of 1, 2, 5, ... up to 100 ms. With a few threads sending at once that turned a 3 ms
    commit into waits of hundreds of milliseconds (p99 of 8 concurrent senders: 350-750 ms in
    bench/). A thread blocked on a ``threading.Lock`` wakes as soon as the lock is released.
    Other processes (the admin commands) still meet the busy timeout.

    The lock is taken by ``begin`` (the outermost ``atomic()``; nested ones are savepoints) and
    released by the ``commit`` or ``rollback`` that ends that transaction.

    A full disk is ``quota_exceeded`` (507), not a crash: SQLite fails the statement or the
    COMMIT with SQLITE_FULL and rolls the whole transaction back itself, so nothing of the write
    is kept; the caller gets the error the blob store gives for a full disk. Reads go on working.
    """

    dialect: Final = SqliteDialect()
    """The SQL the shared storage code asks for (see :mod:`relay_server.storage.dialect`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer = threading.Lock()
        self._holding = threading.local()
        self.commits = 0
        """How many write transactions this process committed (each one fsync at FULL)."""

    def when_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this thread's write transaction has committed, before the next
        writer may begin (at once when there is none). A rollback drops it."""
        if not getattr(self._holding, "lock", False):
            callback()
            return
        pending: list[Callable[[], None]] | None = getattr(self._holding, "after", None)
        if pending is None:
            pending = self._holding.after = []
        pending.append(callback)

    def begin(self, lock_type: str | None = None) -> None:
        if getattr(self._holding, "lock", False):
            super().begin(lock_type)
            return
        self._writer.acquire()
        self._holding.lock = True
        try:
            super().begin(lock_type)
        except BaseException:
            self._release()
            raise

    def execute_sql(self, sql: str, params: Sequence[object] | None = None) -> sqlite3.Cursor:
        """Run one statement; QuotaExceeded when the disk is full."""
        # Peewee's stubs leave execute_sql and connection untyped; SqliteDatabase's are sqlite3's.
        run: Callable[[str, Sequence[object] | None], sqlite3.Cursor] = super().execute_sql
        with _disk_full_is_quota():
            return run(sql, params)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened if need be."""
        connection: Callable[[], sqlite3.Connection] = super().connection
        return connection()

    def commit(self) -> None:
        with _disk_full_is_quota():
            super().commit()  # on failure peewee rolls back, and that releases
        self.commits += 1
        callbacks: list[Callable[[], None]] = getattr(self._holding, "after", None) or []
        self._holding.after = None
        try:
            for callback in callbacks:
                callback()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            # After SQLITE_FULL at COMMIT, SQLite has rolled back already: a ROLLBACK would
            # fail with "no transaction is active" and hide why.
            if self.is_closed() or self.connection().in_transaction:
                super().rollback()
        finally:
            self._release()

    def _release(self) -> None:
        self._holding.after = None
        if getattr(self._holding, "lock", False):
            self._holding.lock = False
            self._writer.release()

"""The relay's PostgreSQL database: Peewee's, with the dialect the storage code asks for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from peewee import DataError, PostgresqlDatabase

from relay_core import InvalidInput
from relay_server.storage.dialect import execute_sql
from relay_server.storage.postgres.dialect import PostgresDialect

NUL_REFUSED: Final = "cannot contain NUL (0x00)"
"""What PostgreSQL says when a text value holds a NUL character."""
WRITE_LOCK: Final = 0x72656C6179
"""The advisory lock every write transaction holds: one writer at a time, in every relay process
on the database ("relay" in ASCII)."""


class RelayPostgresDatabase(PostgresqlDatabase):
    """One connection per thread (Peewee's), each with its own transactions.

    Every transaction (``Storage.transaction``: the relay reads outside them) first takes
    :data:`WRITE_LOCK` and holds it to its end. So a message id, which the sequence hands out
    inside the transaction, is always greater than those of every message committed before it,
    and readers paging with ``after_id`` never skip one that commits late with a smaller id.
    It is SQLite's one writer at a time, across relay processes; PostgreSQL's own locks would
    let two writers commit out of id order.

    Peewee closes only the calling thread's connection; the relay's worker threads each open
    one, so the database keeps every connection it opened, and :meth:`close_all` (the storage's
    close) ends them all, or the server would keep them until the process exits.
    """

    dialect: Final = PostgresDialect()
    """The SQL the shared storage code asks for (see :mod:`relay_server.storage.dialect`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        self._txn = threading.local()
        self.commits = 0
        """How many write transactions this process committed."""

    def connect(self, reuse_if_open: bool = False) -> bool:
        """Open this thread's connection (Peewee opens one on first use), and keep it."""
        opened = super().connect(reuse_if_open)
        # Peewee's stubs leave connection() untyped: it is this thread's psycopg connection.
        this_thread: Callable[[], Any] = self.connection
        if opened:
            with self._opened_lock:
                self._opened = [c for c in self._opened if not c.closed]
                self._opened.append(this_thread())
        return opened

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        """Run SQL; text with a NUL character, which PostgreSQL cannot store (SQLite can), is
        the caller's mistake and refused as such, not a server error."""
        run: Callable[[str, Any], Any] = super().execute_sql  # untyped in Peewee's stubs
        try:
            return run(sql, params)
        except DataError as error:
            if NUL_REFUSED in str(error):
                raise InvalidInput(
                    "text may not contain NUL (0x00) characters on this relay (PostgreSQL)"
                ) from None
            raise

    def begin(self, isolation_level: str | None = None) -> None:
        """BEGIN, then wait for the write lock (released by COMMIT or ROLLBACK)."""
        super().begin(isolation_level)
        self._txn.open, self._txn.after = True, []
        execute_sql(self, "SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    def when_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this thread's transaction has committed (at once when there is
        none); a rollback drops it. The roster cache forgets a changed session this way."""
        if not getattr(self._txn, "open", False):
            callback()
            return
        self._txn.after.append(callback)

    def commit(self) -> None:
        super().commit()
        self.commits += 1
        callbacks: list[Callable[[], None]] = getattr(self._txn, "after", None) or []
        self._txn.open, self._txn.after = False, []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        self._txn.open, self._txn.after = False, []
        super().rollback()

    def close_all(self) -> None:
        """Close this thread's connection and every other thread's."""
        self.close()
        with self._opened_lock:
            left, self._opened = self._opened, []
        for connection in left:
            connection.close()

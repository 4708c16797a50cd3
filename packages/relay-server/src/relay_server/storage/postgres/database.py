"""The relay's PostgreSQL database: Peewee's, with the dialect the storage code asks for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from peewee import PostgresqlDatabase

from relay_server.storage.postgres.dialect import PostgresDialect


class RelayPostgresDatabase(PostgresqlDatabase):
    """One connection per thread (Peewee's), each with its own transactions.

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

    def close_all(self) -> None:
        """Close this thread's connection and every other thread's."""
        self.close()
        with self._opened_lock:
            left, self._opened = self._opened, []
        for connection in left:
            connection.close()

"""The relay's storage: the only place that knows a database.

:func:`open_storage` picks the backend from a database URL, opens and migrates the database, and
returns a :class:`Storage`. The queries the service needs are functions with domain names, one
module a domain (:mod:`.clients`, :mod:`.sessions`, :mod:`.messages`, :mod:`.files`); they run on
the database the models are bound to (:mod:`.models`), inside whatever transaction the caller
opened with :meth:`Storage.transaction`. Where SQL differs between databases they ask the
backend's :class:`~relay_server.storage.dialect.Dialect`.

Backends: SQLite (:mod:`.sqlite`) and PostgreSQL (:mod:`.postgres`), by URL scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Final, Protocol, TypeVar

from peewee import Database

from relay_core import InvalidInput
from relay_server.storage.group_commit import GroupCommit
from relay_server.storage.sqlite import open_sqlite

__all__ = ["SCHEMES", "Storage", "database_scheme", "open_storage"]

T = TypeVar("T")


class Closable(Protocol):
    """Something running that ``close()`` stops."""

    def close(self) -> None: ...


SCHEMES: Final = ("sqlite", "postgresql")
"""Database URL schemes this relay can open."""


class Storage:
    """An opened relay database."""

    def __init__(
        self, database: Database, backend: str, closing: Callable[[], None] | None = None
    ) -> None:
        self.database = database
        """The Peewee database the models are bound to."""
        self.backend = backend
        """Which backend holds the data: a scheme of :data:`SCHEMES`."""
        self._closing = closing or database.close
        self.group_commit = GroupCommit(database)
        """The queue behind :meth:`write`."""

    def transaction(self) -> AbstractContextManager[object]:
        """One transaction (the outermost; nested ones are savepoints): all of it or nothing."""
        transaction: AbstractContextManager[object] = self.database.atomic()
        return transaction

    def write(self, work: Callable[[], T], then: Callable[[T], None] | None = None) -> T:
        """Run ``work`` in a transaction that concurrent writes share (one commit, one fsync);
        its result once that commit is durable. ``then`` gets the result after the commit, in
        commit order (see :mod:`.group_commit`)."""
        return self.group_commit.run(work, then)

    async def write_async(
        self, work: Callable[[], T], then: Callable[[T], None] | None = None
    ) -> T:
        """:meth:`write` from a coroutine: the event loop does not block while ``work`` waits
        for the commit (a writer thread runs it)."""
        return await self.group_commit.run_async(work, then)

    def follow_changes(
        self, on_message: Callable[[int, str, str], None], on_resync: Callable[[], None]
    ) -> Closable | None:
        """Hear the messages other relay processes on this database commit (and this one's):
        ``on_message(id, sender, session)`` in commit order, ``on_resync()`` when some may have
        gone unheard. None where one process is all there is (SQLite). Call ``close()`` on
        what this returns to stop."""
        if self.backend != "postgresql":
            return None
        from relay_server.storage.postgres.notifications import ChangeListener

        return ChangeListener(str(self.database.database), on_message, on_resync).start()

    @property
    def commits(self) -> int:
        """How many write transactions this process committed to the database."""
        commits: int = getattr(self.database, "commits", 0)
        return commits

    def close_thread(self) -> None:
        """Close this thread's connection, if it has one (a short-lived thread, at its end:
        each thread opens its own, and nothing else would close it)."""
        self.database.close()

    def close(self) -> None:
        """Close the connections to the database (for SQLite: this thread's; a server's
        connections all), after the writes queued from coroutines."""
        self.group_commit.stop()
        self._closing()


def database_scheme(url_or_path: str | Path) -> str:
    """The kind of database ``url_or_path`` names: its URL scheme, lowercased; ``sqlite`` for a
    plain path."""
    if isinstance(url_or_path, Path) or "://" not in url_or_path:
        return "sqlite"
    scheme = url_or_path.partition("://")[0].lower()
    return "postgresql" if scheme == "postgres" else scheme  # libpq takes both spellings


def open_storage(url_or_path: str | Path) -> Storage:
    """Open the relay's database, creating and migrating it as needed.

    ``url_or_path`` is a database URL (``sqlite:///PATH``: the path is what follows the three
    slashes, so ``sqlite:////srv/relay.sqlite3`` is absolute; or ``postgresql://USER@HOST/DB``)
    or a plain path to a SQLite file.

    Raises:
        InvalidInput: a URL whose scheme is not one of :data:`SCHEMES` (nothing is opened).
    """
    if isinstance(url_or_path, Path) or "://" not in url_or_path:
        return Storage(open_sqlite(Path(url_or_path)), "sqlite")
    scheme, _, rest = url_or_path.partition("://")
    if database_scheme(url_or_path) not in SCHEMES:
        raise InvalidInput(
            f"database URL scheme {scheme!r} is not supported (supported: "
            f"{', '.join(SCHEMES)}): use sqlite:///PATH, a plain path to a SQLite file, or"
            " postgresql://USER@HOST/DATABASE"
        )
    if database_scheme(url_or_path) == "postgresql":
        from relay_server.storage.postgres import open_postgres  # psycopg only when asked for

        db = open_postgres("postgresql://" + url_or_path.partition("://")[2])
        return Storage(db, "postgresql", closing=db.close_all)
    if not rest.startswith("/"):
        raise InvalidInput("a SQLite database URL is sqlite:///PATH (three slashes)")
    return Storage(open_sqlite(Path(rest.removeprefix("/"))), "sqlite")

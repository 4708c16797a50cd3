"""What a database backend supplies to the shared storage code: the pieces of SQL that differ.

The models, the migrations and the queries are written once; where SQL must differ between
databases (how an id column counts up, how one parameter carries a list, how a table changes its
column types), they ask the :class:`Dialect` of the database they run on (``models.dialect()``).
A backend (``storage/sqlite/``; PostgreSQL later) implements it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, cast

from peewee import ColumnBase, Database, Expression, SelectBase

from relay_core import InvalidInput


class Cursor(Protocol):
    """What the storage code reads from the DB-API cursor a raw statement returns."""

    @property
    def rowcount(self) -> int:
        """How many rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...

    def fetchmany(self, size: int) -> list[Any]:
        """Up to ``size`` of the remaining rows; none when they are all read."""
        ...

    def close(self) -> None:
        """Done with it, read to the end or not (SQLite ends the statement's read)."""
        ...

    def __iter__(self) -> Iterator[Any]: ...


def execute_sql(db: Database, sql: str, params: Sequence[object] = ()) -> Cursor:
    """Run one raw statement on ``db`` (in its current transaction); its cursor.

    Peewee's ``Database.execute_sql`` is untyped in its stubs: this is the one place that says
    what it takes and returns.
    """
    run = cast("Callable[[str, Sequence[object]], Cursor]", db.execute_sql)
    return run(sql, params)


class TextIndex(Protocol):
    """The queries a search asks of a backend's full-text index of message texts and attachment
    names (see :mod:`relay_server.storage.search`). Each is a query to run, not its rows."""

    def text_ranks(self, query: str) -> SelectBase:
        """``(message_id, rank)`` of each message whose text matches ``query``, from the index
        alone: a lower rank matches better; best first, equal ranks newest first."""
        ...

    def name_ranks(self, query: str) -> SelectBase:
        """``(message_id, rank)`` of each attachment whose name matches ``query``, ordered as
        :meth:`text_ranks`'s (ranks of the two compare); a message comes once per attachment."""
        ...

    def text_snippets(self, query: str, message_ids: Sequence[int]) -> SelectBase:
        """``(message_id, snippet)`` of those of ``message_ids`` whose text matches ``query``:
        the part of the text where it matches, matched words marked."""
        ...

    def first_names(self, query: str, message_ids: Sequence[int]) -> SelectBase:
        """``(message_id, file)`` of those of ``message_ids`` with an attachment whose name
        matches ``query``: the least such name."""
        ...


class Dialect(Protocol):
    """The SQL one backend speaks where the backends differ."""

    @property
    def name(self) -> str:
        """The backend's name, as in a database URL's scheme: ``sqlite``."""
        ...

    @property
    def id_key(self) -> str:
        """Column definition of a 64-bit primary key the database counts up and never reuses,
        not even after the newest row is deleted (message ids are cursors)."""
        ...

    def in_list(self, field: ColumnBase, values: Iterable[object]) -> Expression:
        """``field IN values``, as one statement whatever the number of values."""
        ...

    def changing_schema(self, db: Database) -> AbstractContextManager[None]:
        """Wrap one migration's transaction (entered before it begins, left after it ends)."""
        ...

    def retype_tables(
        self, db: Database, tables: Mapping[str, str], indexes: Mapping[str, str]
    ) -> None:
        """Give existing ``tables`` (name -> column definitions) these definitions, keeping every
        row, id and id counter, and ``indexes`` (name -> table and columns); runs inside the
        migration's transaction. A backend whose tables were always made so does nothing."""
        ...

    def create_text_index(self, db: Database) -> None:
        """Create the full-text index of message texts and attachment names, index the rows
        already stored, and keep it in step with every later insert and delete."""
        ...

    @property
    def text_index(self) -> TextIndex:
        """The queries of the backend's full-text index (its ``search`` module)."""
        ...

    def announce_changes(self, db: Database) -> None:
        """Make the database tell every relay process on it of each new message and each change
        to a session's members, as they commit; a backend served by one process does nothing."""
        ...

    def query_problem(self, error: Exception) -> InvalidInput | None:
        """The caller's mistake in a search query behind ``error``, or None if it is another
        failure."""
        ...

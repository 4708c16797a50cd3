"""The SQL only SQLite speaks: AUTOINCREMENT ids, lists through ``json_each``, table rebuilds.

SQLite cannot change a column's type in place. :meth:`SqliteDialect.retype_tables` follows
SQLite's own recipe (https://sqlite.org/lang_altertable.html#otheralter): with foreign keys off,
create the new table, copy the rows, drop the old one, rename the new one into its place, then
re-create the indexes; all in the migration's one transaction, so a failure leaves the old
tables as they were.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

from peewee import SQL, ColumnBase, Database, Expression

from relay_core import InvalidInput
from relay_server.storage.dialect import Cursor, TextIndex, execute_sql
from relay_server.storage.sqlite import search

_NEW_SUFFIX: Final = "_retyped"


class SqliteDialect:
    """The pieces of SQL the shared storage code asks SQLite for."""

    name: Final = "sqlite"
    id_key: Final = "INTEGER PRIMARY KEY AUTOINCREMENT"
    """``INTEGER PRIMARY KEY`` is the row's 64-bit rowid. AUTOINCREMENT makes SQLite remember the
    largest id it handed out (in ``sqlite_sequence``) and never hand it out again: without it,
    deleting the newest message would give its id to the next one, behind readers' cursors."""

    text_index: Final[TextIndex] = search
    """Search by the FTS5 indexes, ranked by bm25 (see :mod:`.search`)."""

    def in_list(self, field: ColumnBase, values: Iterable[object]) -> Expression:
        """``field IN values`` with one statement for any number of values.

        A plain ``IN (?, ?, ...)`` is new SQL for every length, and every SQLite connection (one
        a worker thread) compiles and caches each length it meets: the relay's memory crept up
        for minutes in the soak run. A JSON array in one parameter keeps the SQL the same.
        """
        return field.in_(SQL("(SELECT value FROM json_each(?))", (json.dumps(list(values)),)))

    @contextlib.contextmanager
    def changing_schema(self, db: Database) -> Iterator[None]:
        """Foreign keys off while a migration runs (SQLite ignores the switch in a transaction).

        Dropping a table that others reference would otherwise delete their rows (``ON DELETE
        CASCADE``) during a rebuild.
        """
        execute_sql(db, "PRAGMA foreign_keys = OFF")
        try:
            yield
        finally:
            execute_sql(db, "PRAGMA foreign_keys = ON")

    def retype_tables(
        self, db: Database, tables: Mapping[str, str], indexes: Mapping[str, str]
    ) -> None:
        """Rebuild each of ``tables`` whose columns differ from its definition, rows and ids kept.

        The id counters (``sqlite_sequence``) go with them: the rebuilt table counts on from the
        old one's counter, which may be past its largest id (the newest rows deleted, or ids
        skipped by ``restore``). Indexes dropped with their tables are created again.
        """
        counters: dict[str, int] = dict(
            execute_sql(db, "SELECT name, seq FROM sqlite_sequence").fetchall()
        )
        rebuilt = [name for name, columns in tables.items() if _rebuild(db, name, columns)]
        for name in rebuilt:
            if name in counters:
                raise_id_counter(functools.partial(execute_sql, db), name, counters[name])
        existing = {row[0] for row in execute_sql(db, "SELECT name FROM sqlite_master")}
        for index, on in indexes.items():
            if index not in existing:
                execute_sql(db, f"CREATE INDEX {index} ON {on}")

    def create_text_index(self, db: Database) -> None:
        """FTS5 indexes kept in step by triggers (see :mod:`.search`)."""
        search.create_text_index(db)

    def announce_changes(self, db: Database) -> None:
        """Nothing: a SQLite relay is one process, whose event hub hears every message."""

    def query_problem(self, error: Exception) -> InvalidInput | None:
        """FTS5's complaint about a query, as the caller's mistake."""
        return search.query_problem(error)


def _columns(db: Database, table: str) -> list[tuple[object, ...]]:
    """Each column's name, declared type, NOT NULL, default and place in the primary key."""
    return [tuple(row[1:]) for row in execute_sql(db, f'PRAGMA table_info("{table}")')]


def _rebuild(db: Database, table: str, columns: str) -> bool:
    """Re-create ``table`` with ``columns`` and its rows; False when it already had them."""
    new = table + _NEW_SUFFIX
    execute_sql(db, f'CREATE TABLE "{new}" ({columns})')
    wanted = _columns(db, new)
    if wanted == _columns(db, table):
        execute_sql(db, f'DROP TABLE "{new}"')
        return False
    names = ", ".join(f'"{column[0]}"' for column in wanted)
    execute_sql(db, f'INSERT INTO "{new}" ({names}) SELECT {names} FROM "{table}"')
    execute_sql(db, f'DROP TABLE "{table}"')
    execute_sql(db, f'ALTER TABLE "{new}" RENAME TO "{table}"')
    return True


def raise_id_counter(
    execute: Callable[[str, tuple[str | int, ...]], Cursor], table: str, seq: int
) -> None:
    """Make the next id SQLite hands out in ``table`` at least ``seq + 1``; never lowers it.

    ``execute`` runs one statement (``sqlite3.Connection.execute``, or
    :func:`~relay_server.storage.dialect.execute_sql` on a peewee database), inside the caller's
    transaction.
    """
    updated = execute(
        "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (seq, table)
    ).rowcount
    if not updated:
        execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, seq))

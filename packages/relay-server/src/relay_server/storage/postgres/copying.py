"""Copying a SQLite relay's rows into a PostgreSQL relay: table by table in foreign-key order,
each in primary-key order, in batches that skip rows already there, then per-table counts and
checksums on both sides.

The target's schema says what to copy (its tables, keys and column types, from the catalog);
the source was migrated to the same schema when it was opened. A batch is one transaction, so a
copy that stops part-way leaves whole batches behind, and the next one starts after the greatest
key the target holds (a table whose count then differs is gone over again from its start,
still skipping what is there). Rows changed in the source after they were copied are not copied
again: stop the relay before the last run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from peewee import Database

from relay_server.storage.dialect import execute_sql

BATCH_ROWS: Final = 2000
"""Rows copied per transaction."""
SKIPPED: Final = frozenset({"applied_migration"})
"""Tables each database keeps for itself."""


@dataclass(frozen=True)
class Table:
    """One table of the target: its name, columns, primary key and boolean columns."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    booleans: frozenset[str]
    identity: str | None


@dataclass(frozen=True)
class TableSum:
    """How many rows a table holds and a SHA-256 of them, in key order."""

    rows: int
    sha256: str


def tables(target: Database) -> list[Table]:
    """The target's tables to copy, each after the tables it references."""
    catalog = "c.relnamespace = current_schema()::regnamespace"
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, kind, identity in execute_sql(
        target,
        "SELECT table_name, column_name, data_type, is_identity = 'YES'"
        " FROM information_schema.columns WHERE table_schema = current_schema()"
        " ORDER BY table_name, ordinal_position",
    ):
        columns.setdefault(table, []).append((column, kind, identity))
    keys = dict(
        execute_sql(
            target,
            "SELECT c.relname, array_agg(a.attname ORDER BY array_position(i.indkey, a.attnum))"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            f" WHERE i.indisprimary AND {catalog} GROUP BY c.relname",
        ).fetchall()
    )
    references: dict[str, set[str]] = {name: set() for name in columns}
    for table, referenced in execute_sql(
        target,
        "SELECT c.relname, r.relname FROM pg_constraint f JOIN pg_class c ON c.oid = f.conrelid"
        f" JOIN pg_class r ON r.oid = f.confrelid WHERE f.contype = 'f' AND {catalog}",
    ):
        references.setdefault(table, set()).add(referenced)
    found = [
        Table(
            name=name,
            columns=tuple(c for c, _, _ in cols),
            key=tuple(keys[name]),
            booleans=frozenset(c for c, kind, _ in cols if kind == "boolean"),
            identity=next((c for c, _, identity in cols if identity), None),
        )
        for name, cols in columns.items()
        if name not in SKIPPED and name in keys
    ]
    return _in_reference_order(found, references)


def _in_reference_order(found: list[Table], references: dict[str, set[str]]) -> list[Table]:
    ordered: list[Table] = []
    placed: set[str] = set()
    while len(ordered) < len(found):
        ready = [
            t for t in found if t.name not in placed and references[t.name] - {t.name} <= placed
        ]
        if not ready:
            raise RuntimeError("the target's foreign keys form a cycle")
        ordered.extend(ready)
        placed.update(t.name for t in ready)
    return ordered


def copy_table(
    source: Database, target: Database, table: Table, progress: Callable[[int], None]
) -> int:
    """Copy ``table``'s rows the target lacks, after the greatest key it holds; rows inserted.
    ``progress`` hears the running count after each batch."""
    key = ", ".join(table.key)
    newest = execute_sql(
        target, f"SELECT {key} FROM {table.name} ORDER BY {key} DESC LIMIT 1"
    ).fetchone()
    return _copy_after(source, target, table, tuple(newest) if newest else None, progress)


def copy_table_again(
    source: Database, target: Database, table: Table, progress: Callable[[int], None]
) -> int:
    """Go over all of ``table`` from its first key, inserting only the rows the target lacks."""
    return _copy_after(source, target, table, None, progress)


def _copy_after(
    source: Database,
    target: Database,
    table: Table,
    after: tuple[Any, ...] | None,
    progress: Callable[[int], None],
) -> int:
    columns = ", ".join(table.columns)
    marks = ", ".join(["%s"] * len(table.columns))
    insert = (
        f"INSERT INTO {table.name} ({columns}) OVERRIDING SYSTEM VALUE VALUES ({marks})"
        f" ON CONFLICT DO NOTHING"
    )
    booleans = [i for i, c in enumerate(table.columns) if c in table.booleans]
    copied = 0
    for batch in _batches(source, table, after):
        rows = [_typed(row, booleans) for row in batch]
        with target.atomic():
            cursor_of: Callable[[], Any] = target.cursor  # untyped in Peewee's stubs
            cursor = cursor_of()
            cursor.executemany(insert, rows)
        copied += max(cursor.rowcount, 0)  # the rows inserted, not those already there
        progress(copied)
    if table.identity is not None:
        _move_identity_on(source, target, table)
    return copied


def _batches(
    source: Database, table: Table, after: tuple[Any, ...] | None
) -> Iterator[Sequence[tuple[Any, ...]]]:
    key = ", ".join(table.key)
    columns = ", ".join(table.columns)
    while True:
        where = f"WHERE ({key}) > ({', '.join('?' * len(table.key))})" if after else ""
        rows = execute_sql(
            source,
            f"SELECT {columns} FROM {table.name} {where} ORDER BY {key} LIMIT {BATCH_ROWS}",
            after or (),
        ).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1]
        after = tuple(last[table.columns.index(k)] for k in table.key)


def _typed(row: Sequence[Any], booleans: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in booleans:  # SQLite stores them as 0 and 1
        values[i] = None if values[i] is None else bool(values[i])
    return tuple(values)


def _move_identity_on(source: Database, target: Database, table: Table) -> None:
    """The target hands out ids after every id the source ever gave, not only those it kept
    (message ids are cursors: a deleted newest id must not come back)."""
    column = table.identity
    used = execute_sql(source, f"SELECT coalesce(max({column}), 0) FROM {table.name}").fetchone()
    counted = execute_sql(
        source, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?", (table.name,)
    ).fetchone()
    floor = max(int(used[0]), int(counted[0]))
    if floor > 0:
        execute_sql(
            target,
            "SELECT setval(pg_get_serial_sequence(%s, %s),"
            f" greatest(%s, (SELECT coalesce(max({column}), 0) FROM {table.name})))",
            (table.name, column, floor),
        )


def table_sum(db: Database, table: Table) -> TableSum:
    """Count and checksum ``table`` in ``db`` (either backend).

    The checksum is the sum of the rows' SHA-256 values (mod 2**256), so it does not depend on
    the order rows come in: the two databases sort text keys by different collations.
    """
    total = 0
    rows = 0
    booleans = [i for i, c in enumerate(table.columns) if c in table.booleans]
    for row in execute_sql(db, f"SELECT {', '.join(table.columns)} FROM {table.name}"):
        total += int.from_bytes(hashlib.sha256(repr(_typed(row, booleans)).encode()).digest())
        rows += 1
    return TableSum(rows, f"{total % 2**256:064x}")

"""``migrate --to postgresql://...``: a SQLite relay's rows copied into PostgreSQL, verified.

Table by table (each after the tables it references), in batches of whole transactions, so a
copy that stops part-way is resumed by running it again: it starts after what the target holds
and skips every row already there. Then every table is counted and checksummed on both sides;
a table that differs is gone over once more from its start, then compared again. The blob
store is not copied: the PostgreSQL relay uses the same blobs directory (docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from peewee import Database

from relay_core import InvalidInput
from relay_server.storage import database_scheme, open_storage
from relay_server.storage.postgres import copying


@dataclass
class TableReport:
    """One table moved: rows copied by this run, and the counts and checksums compared."""

    name: str
    copied: int = 0
    source_rows: int = 0
    target_rows: int = 0
    same: bool = False


@dataclass
class MigrateReport:
    """What ``migrate`` did; ``ok`` when every table is the same on both sides."""

    tables: list[TableReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.same for t in self.tables)


Progress = Callable[[str], None]


def migrate_to_postgres(source: Path, url: str, progress: Progress) -> MigrateReport:
    """Copy the SQLite relay database ``source`` into the PostgreSQL database ``url``.

    ``progress`` hears one line per batch and per table compared.

    Raises:
        InvalidInput: ``url`` is not a PostgreSQL URL, or ``source`` does not exist.
        Unavailable: PostgreSQL cannot be reached or its driver is missing.
    """
    if database_scheme(url) != "postgresql":
        raise InvalidInput("migrate --to takes a postgresql:// URL")
    if not source.is_file():
        raise InvalidInput(f"no SQLite relay database at {source}")
    reading = open_storage(source)  # migrated first, so both sides have the same tables
    writing = open_storage(url)
    report = MigrateReport()
    try:
        for table in copying.tables(writing.database):
            moved = TableReport(table.name)
            report.tables.append(moved)

            def step(copied: int, name: str = table.name) -> None:
                progress(f"{name}: {copied} row(s) copied")

            moved.copied = copying.copy_table(reading.database, writing.database, table, step)
            _compare(moved, reading.database, writing.database, table)
            if not moved.same:
                progress(f"{table.name}: differs, going over it again")
                moved.copied += copying.copy_table_again(
                    reading.database, writing.database, table, step
                )
                _compare(moved, reading.database, writing.database, table)
            progress(
                f"{table.name}: {moved.source_rows} row(s) here, {moved.target_rows} there,"
                f" {'same checksum' if moved.same else 'DIFFERENT'}"
            )
    finally:
        writing.close()
        reading.close()
    return report


def _compare(moved: TableReport, source: Database, target: Database, table: copying.Table) -> None:
    here, there = copying.table_sum(source, table), copying.table_sum(target, table)
    moved.source_rows, moved.target_rows = here.rows, there.rows
    moved.same = here == there

"""The SQLite steps of relay upkeep: read a snapshot, check integrity, back up, move ids on.

``relay_server.maintenance`` (``check``, ``backup``, ``restore``) asks the database's backend for
these steps and does the rest (blobs, manifest, reports) itself. Each step opens its own
``sqlite3`` connection to an existing file: WAL lets it read a consistent snapshot while the
relay writes, and nothing of the running relay's state is needed, so it works from another
process, before, during or after serving.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from relay_core import InvalidInput
from relay_server.storage.sqlite.dialect import raise_id_counter

SQLITE_TIMEOUT_S: Final = 30.0


@dataclass
class Snapshot:
    """What the blob checks and the manifest need from the database, read in one transaction."""

    messages: int = 0
    last_message_id: int = 0
    referenced: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Attached digest -> (number of attachments, first message id)."""
    applied: list[str] = field(default_factory=list)
    """Names of the migrations applied."""


@dataclass
class DatabaseCheck:
    """What checking the database found (the schema's migrations are judged by the caller)."""

    snapshot: Snapshot
    integrity: list[str] = field(default_factory=list)
    """The integrity check's complaints (nothing when the database is sound)."""
    orphans: list[tuple[str, int, str]] = field(default_factory=list)
    """Rows pointing at a missing row: (table, row id, the table of the missing row)."""
    unreadable: str | None = None
    """Why the database could not be read at all; then the rest is empty."""


class SqliteMaintenance:
    """The maintenance steps of the SQLite database at ``path``."""

    def __init__(self, path: Path) -> None:
        """Steps on the database file at ``path`` (never created by them)."""
        self.path = path

    @property
    def name(self) -> str:
        """How reports name the database: its file name."""
        return self.path.name

    def check(self) -> DatabaseCheck:
        """Read a snapshot and run SQLite's integrity and foreign-key checks.

        Raises:
            InvalidInput: there is no database at the path.
        """
        connection = _connect(self.path)
        try:
            snapshot = _read_snapshot(connection)
            integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            orphans = [
                (table, rowid, parent)
                for table, rowid, parent, _fk in connection.execute("PRAGMA foreign_key_check")
            ]
        except sqlite3.DatabaseError as exc:
            return DatabaseCheck(Snapshot(), unreadable=str(exc))
        finally:
            connection.close()
        return DatabaseCheck(snapshot, [line for line in integrity if line != "ok"], orphans)

    def backup_to(self, target: Path, skip_ids: int) -> tuple[Snapshot, list[str]]:
        """Copy the database into the new file ``target`` as one consistent moment, fsynced.

        With ``skip_ids``, the copy's next message id is moved that far past its last one.
        Returns the copy's snapshot and its integrity check's complaints.

        Raises:
            InvalidInput: there is no database at the path.
        """
        source = _connect(self.path)
        try:
            copy = sqlite3.connect(target, isolation_level=None)
            try:
                # One step (pages=-1): the whole copy is read in one transaction, so it is one
                # consistent moment of the database even while the relay commits.
                source.backup(copy)
                snapshot = _read_snapshot(copy)
                integrity = [row[0] for row in copy.execute("PRAGMA integrity_check")]
                if skip_ids:
                    _skip_message_ids(copy, snapshot.last_message_id + skip_ids)
                copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                copy.close()
        finally:
            source.close()
        _fsync_file(target)
        return snapshot, [line for line in integrity if line != "ok"]


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing database (never creates one)."""
    if not path.is_file():
        raise InvalidInput(f"no relay database at {path}")
    connection = sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_TIMEOUT_S * 1000)}")
    return connection


def _read_snapshot(connection: sqlite3.Connection) -> Snapshot:
    snapshot = Snapshot()
    connection.execute("BEGIN")
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "applied_migration" in tables:
            snapshot.applied = [
                row[0] for row in connection.execute("SELECT name FROM applied_migration")
            ]
        if "message" in tables:
            snapshot.messages, snapshot.last_message_id = connection.execute(
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM message"
            ).fetchone()
        if "attachment" in tables:
            snapshot.referenced = {
                sha256: (count, first)
                for sha256, count, first in connection.execute(
                    "SELECT sha256, COUNT(*), MIN(message_id) FROM attachment GROUP BY sha256"
                )
            }
    finally:
        if connection.in_transaction:
            connection.execute("COMMIT")
    return snapshot


def _skip_message_ids(connection: sqlite3.Connection, next_after: int) -> None:
    """Make the next message id ``next_after + 1`` (AUTOINCREMENT never goes back)."""
    with connection:
        connection.execute("BEGIN")
        raise_id_counter(connection.execute, "message", next_after)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())

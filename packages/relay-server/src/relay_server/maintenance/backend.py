"""Which backend does the database steps of maintenance, picked by the kind of database.

``check``, ``backup`` and ``restore`` handle blobs, manifests and reports themselves; reading a
snapshot, checking integrity, copying the database and moving message ids on are the backend's
(``relay_server.storage.<kind>.maintenance``), behind :class:`DatabaseMaintenance`. A backend
that cannot do a step raises :class:`~relay_core.errors.Unavailable` saying what to use
instead, for example "backup of a postgresql relay: use pg_dump".
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from relay_core import InvalidInput
from relay_server.config import ServerConfig
from relay_server.storage import database_scheme
from relay_server.storage.sqlite.maintenance import DatabaseCheck, Snapshot, SqliteMaintenance


class DatabaseMaintenance(Protocol):
    """The database steps a backend offers the maintenance commands."""

    @property
    def name(self) -> str:
        """How reports name the database."""
        ...

    def check(self) -> DatabaseCheck:
        """Read a snapshot and check the database's integrity."""
        ...

    def backup_to(self, target: Path, skip_ids: int) -> tuple[Snapshot, list[str]]:
        """Copy the database into ``target``; its snapshot and integrity complaints."""
        ...


def database_kind(config: ServerConfig) -> str:
    """The kind of database ``config`` names: the scheme of ``database_url`` (default sqlite)."""
    return database_scheme(config.database_url or config.database_path)


def maintenance_for(config: ServerConfig) -> DatabaseMaintenance:
    """The maintenance steps of the database of the relay ``config`` describes.

    Raises:
        InvalidInput: no backend here handles that kind of database.
    """
    kind = database_kind(config)
    if kind == "sqlite":
        return SqliteMaintenance(config.database_path)
    if kind == "postgresql":
        raise InvalidInput(
            "check, backup and restore read a SQLite relay; for a PostgreSQL relay use pg_dump"
            " and pg_restore (the blobs directory is copied as for SQLite: see docs/operators.md)"
        )
    raise InvalidInput(f"no maintenance for {kind} databases: database_url must be sqlite:///PATH")

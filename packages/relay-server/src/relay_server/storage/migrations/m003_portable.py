"""m003_portable: the column types m001 and m002 now declare, in relays made before they did.

Relays up to this migration were made with SQLite-only column types: ``INTEGER`` for every
number and for the ``narrowed`` flag. m001 and m002 now declare what every backend reads the same
way (``BIGINT`` ids and times, ``BOOLEAN`` flags), so that a relay's schema says what its columns
hold when it moves to another database. This migration gives older tables those declarations; the
backend keeps every row, every id, and the counter that keeps ids from being reused.
"""

from __future__ import annotations

from peewee import Database

from relay_server.storage.dialect import Dialect
from relay_server.storage.migrations import m001_initial, m002_uploads


def m003_portable(db: Database, dialect: Dialect) -> None:
    """64-bit ids and times, booleans as booleans, in tables made before m001/m002 said so."""
    tables = {**m001_initial.tables(dialect), **m002_uploads.tables(dialect)}
    dialect.retype_tables(db, tables, m001_initial.INDEXES)

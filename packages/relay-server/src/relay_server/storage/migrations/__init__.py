"""Named forward migrations of the relay's schema, and applying them.

Each migration is a function named like its module (``m001_initial``), taking the database and
its :class:`~relay_server.storage.dialect.Dialect`. Each runs in one transaction together with
the row that records it; the names are stored in existing relays, so they never change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from peewee import Database

from relay_core import now_ms
from relay_server.storage.dialect import Dialect
from relay_server.storage.migrations import (
    m001_initial,
    m002_uploads,
    m003_portable,
    m004_tasks,
    m005_join_codes,
    m006_search,
    m007_roles,
    m008_delivery,
    m009_approvals,
    m010_notify,
)
from relay_server.storage.models import AppliedMigration

Migration = Callable[[Database, Dialect], None]
MIGRATIONS: Final[tuple[Migration, ...]] = (
    m001_initial.m001_initial,
    m002_uploads.m002_uploads,
    m003_portable.m003_portable,
    m004_tasks.m004_tasks,
    m005_join_codes.m005_join_codes,
    m006_search.m006_search,
    m007_roles.m007_roles,
    m008_delivery.m008_delivery,
    m009_approvals.m009_approvals,
    m010_notify.m010_notify,
)


def migrate(db: Database, dialect: Dialect) -> list[str]:
    """Apply every pending migration, each in its own transaction; returns their names."""
    db.create_tables([AppliedMigration], safe=True)
    applied = {row.name for row in AppliedMigration.select(AppliedMigration.name)}
    done = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in applied:
            continue  # read without a write transaction: a relay that is up to date starts fast
        with dialect.changing_schema(db), db.atomic():
            if AppliedMigration.get_or_none(AppliedMigration.name == name):
                continue  # another process got there first
            migration(db, dialect)
            AppliedMigration.create(name=name, applied_ms=now_ms())
        done.append(name)
    return done

"""Upkeep of a relay's data: ``check`` (with ``--repair``), ``backup`` and ``restore``.

All are safe while the relay serves: they read the database through the backend's own
connection (``backend``: SQLite reads a consistent snapshot beside the relay's writes) and the
blob store through the file system (``relay_server.storage.blobs.files``). None imports the
running relay's state, so they work from another process, before, during or after serving.
``verify`` holds ``check``, ``copying`` holds ``backup`` and ``restore``, ``report`` what they
return.
"""

from relay_server.maintenance.backend import database_kind, maintenance_for
from relay_server.maintenance.copying import (
    BACKUP_FORMAT,
    MANIFEST_FILE,
    RESTORE_SKIP_IDS,
    backup,
    restore,
)
from relay_server.maintenance.report import (
    CORRUPT_BLOB,
    CORRUPT_COPY,
    DATABASE,
    FOREIGN_KEY,
    MIGRATION,
    MISSING_BLOB,
    TEMP_FILE,
    UNEXPECTED_FILE,
    BackupReport,
    CheckReport,
    Problem,
)
from relay_server.maintenance.verify import check
from relay_server.storage.blobs.files import QUARANTINE_DIR

__all__ = [
    "BACKUP_FORMAT",
    "CORRUPT_BLOB",
    "CORRUPT_COPY",
    "DATABASE",
    "FOREIGN_KEY",
    "MANIFEST_FILE",
    "MIGRATION",
    "MISSING_BLOB",
    "QUARANTINE_DIR",
    "RESTORE_SKIP_IDS",
    "TEMP_FILE",
    "UNEXPECTED_FILE",
    "BackupReport",
    "CheckReport",
    "Problem",
    "backup",
    "check",
    "database_kind",
    "maintenance_for",
    "restore",
]

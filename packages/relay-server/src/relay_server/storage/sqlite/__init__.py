"""The SQLite backend: opening a relay's database file, private to its user, and migrated.

The database itself (one writer at a time, a full disk as QuotaExceeded) is
:class:`~relay_server.storage.sqlite.database.RelayDatabase`; the SQL only SQLite speaks is in
:mod:`relay_server.storage.sqlite.dialect`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from relay_server.storage.migrations import migrate
from relay_server.storage.models import bind
from relay_server.storage.sqlite.database import PRAGMAS, RelayDatabase

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "PRIVATE_UMASK",
    "SQLITE_SIDE_FILES",
    "make_private",
    "open_sqlite",
]

PRIVATE_UMASK: Final = 0o077
"""What the relay's commands create is for its own user only: directories 0700, files 0600."""
PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
SQLITE_SIDE_FILES: Final = ("-wal", "-shm", "-journal")


def make_private(path: Path, mode: int) -> None:
    """Take group and other permissions away from ``path`` (when it exists and is ours).

    For data made before the relay kept it private: new files are created private (the
    commands run under :data:`PRIVATE_UMASK`), this closes what older versions left open.
    """
    try:
        current = path.stat(follow_symlinks=False)
    except FileNotFoundError:
        return
    if current.st_mode & 0o077 and current.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(current.st_mode) & mode, follow_symlinks=False)


def open_sqlite(path: Path) -> RelayDatabase:
    """Open (creating if needed) the SQLite file, bind the models to it and migrate it.

    The file and its WAL and shared-memory files are made private to this user (SQLite gives
    the side files the database file's mode when it creates them).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE))
    for file in (path, *(path.with_name(path.name + side) for side in SQLITE_SIDE_FILES)):
        make_private(file, PRIVATE_FILE_MODE)
    db = RelayDatabase(str(path), pragmas=PRAGMAS, lock_type="IMMEDIATE")
    bind(db)
    db.connect(reuse_if_open=True)
    migrate(db, db.dialect)
    return db

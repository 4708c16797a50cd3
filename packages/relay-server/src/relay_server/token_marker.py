"""A file beside the database that changes whenever a per-client token changes.

The running relay keeps the per-client tokens it has accepted in memory, so a request does not
query the database. ``add-client`` and ``remove-client`` run in another process and change the
``client`` table under it; each then appends one line to this file. The relay looks at the
file's size and identity (one ``stat``, about a microsecond) before it trusts its memory, and
forgets every remembered token when they differ: a replaced or removed token is refused from the
next request on, without a restart.

The file only grows, so two changes within one tick of the file system's clock still differ in
size. It holds no secret: a time and the word ``changed``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Final

MARKER_SUFFIX: Final = "-tokens"
"""The marker of ``relay.sqlite3`` is ``relay.sqlite3-tokens``."""

MarkerState = tuple[int, int, int] | None
"""(device, inode, size) of the marker, or None while it does not exist."""


class TokenMarker:
    """Announces token changes (admin commands) and tells them apart (the relay)."""

    def __init__(self, database_path: Path) -> None:
        self.path = database_path.with_name(database_path.name + MARKER_SUFFIX)

    def state(self) -> MarkerState:
        """What the marker looks like now; compare two states to see whether tokens changed."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino, stat.st_size)

    def announce(self) -> None:
        """Record that tokens changed; call it after the change is committed.

        Raises:
            OSError: the marker could not be written (the running relay may then keep
                accepting a token it has seen until it restarts).
        """
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} changed\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, line.encode("ascii"))
        finally:
            os.close(fd)

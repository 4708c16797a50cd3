"""The blob store's files on disk: their names, the scan of the store, locks, fsync, quarantine.

A store is ``<root>/<first two hex>/<sha256>``. Next to the blobs, in the same fan-out directory,
live hidden leftovers: ``.<sha256>.<random>.part`` while an upload writes (or after it crashed)
and ``.<sha256>.<random>.corrupt`` for a blob set aside after failing verification. This module
is the one place that knows those names; the store, its garbage collection and the maintenance
commands (``check``, ``backup``), which run in another process, all scan the store through it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final

from relay_core.errors import QuotaExceeded
from relay_server.storage.blobs.records import StoredBlob

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; leftovers are judged by age
    fcntl = None  # type: ignore[assignment]  # a module, or None where there is none

TEMP_SUFFIX: Final = ".part"
"""Temp files are ``<fan-out>/.<sha256>.<random>.part``: hidden, never a valid blob name."""
CORRUPT_SUFFIX: Final = ".corrupt"
"""A blob that failed verification is renamed to ``<fan-out>/.<sha256>.<random>.corrupt``."""
STALE_TEMP_S: Final = 6 * 3600.0
"""A temp file untouched this long belongs to an upload that crashed; gc removes it."""
QUARANTINE_DIR: Final = "quarantine"
"""Below the data dir: where ``check --repair`` moves bad blobs; nothing there is deleted."""
DISK_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
FANOUT_RE: Final = re.compile(r"[0-9a-f]{2}")
BLOB_RE: Final = re.compile(r"[0-9a-f]{64}")
LEFTOVER_RE: Final = re.compile(r"\.([0-9a-f]{64})\.[0-9a-f]+\.(part|corrupt)")
"""A temp file or a set-aside copy; group 1 is the digest, group 2 the kind."""


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside ``path`` durable (a no-op where directories can't sync)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself still happened
    finally:
        os.close(fd)


def file_identity(st: os.stat_result) -> tuple[int, int]:
    """``(st_dev, st_ino)``: which file a name pointed at, to notice it was replaced since."""
    return st.st_dev, st.st_ino


def leftover_name(sha256: str, suffix: str) -> str:
    """A fresh hidden name for a temp file or set-aside copy of ``sha256``."""
    return f".{sha256}.{secrets.token_hex(8)}{suffix}"


def disk_full(exc: OSError, digest: str) -> QuotaExceeded:
    """A full disk in the relay's terms, for an upload of ``digest`` that hit it."""
    # 507 Insufficient Storage is what a full disk means over HTTP: retrying soon will not help
    # (503's promise) until someone frees space, exactly as with the configured quota.
    return QuotaExceeded(
        f"the relay's disk is full: blob {digest} was not stored ({os.strerror(exc.errno or 0)})"
    )


# --- temp files and their locks ----------------------------------------------------------------


def create_locked_temp(fanout: Path, sha256: str) -> tuple[Path, BinaryIO]:
    """Create a new temp file for ``sha256`` and hold an exclusive lock on it until it closes.

    The lock tells other processes (``agent-relay-server check``) that an upload is writing the
    file; the kernel drops it when the relay dies, so a crashed upload's file is unlocked. A
    checker removes a leftover only while holding its lock, so if it claimed this file in the
    instant between its creation and our lock, the file is gone once we hold the lock: start over.
    """
    while True:
        temp = fanout / leftover_name(sha256, TEMP_SUFFIX)
        handle = temp.open("xb")
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(handle.fileno()), temp.stat()):
                return temp, handle
        except FileNotFoundError:
            pass
        except BaseException:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        handle.close()


@contextlib.contextmanager
def claim_leftover(path: Path) -> Iterator[bool]:
    """Lock a temp file unless an upload (in any process) is writing it; yields True if claimed.

    Removing the file inside the ``with`` block is safe while the relay runs (see
    :func:`create_locked_temp`). Where file locks are not available it yields True only for files
    untouched for :data:`STALE_TEMP_S`.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        if fcntl is None:
            yield time.time() - os.fstat(fd).st_mtime > STALE_TEMP_S
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # also releases the lock


# --- scanning the store ------------------------------------------------------------------------


def is_fanout(path: Path) -> bool:
    """True for a fan-out directory (two hex digits)."""
    return bool(FANOUT_RE.fullmatch(path.name)) and path.is_dir()


def is_blob_name(name: str, fanout_name: str) -> bool:
    """True when ``name`` is a blob's name that belongs in the fan-out directory ``fanout_name``."""
    return bool(BLOB_RE.fullmatch(name)) and name[:2] == fanout_name


def iter_blobs(root: Path) -> Iterator[StoredBlob]:
    """Every blob stored below ``root``, read from disk (fan-out directories in order)."""
    for fanout in sorted(root.iterdir()):
        if not is_fanout(fanout):
            continue
        with os.scandir(fanout) as entries:
            for entry in entries:
                if is_blob_name(entry.name, fanout.name):
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # removed while we looked
                    yield StoredBlob(entry.name, st.st_size, st.st_mtime)


def stale_leftovers(
    root: Path, cutoff: float, active: Collection[Path]
) -> Iterator[tuple[Path, int]]:
    """Leftovers below ``root`` and their sizes: set-aside copies, and temp files untouched since
    ``cutoff`` that are not in ``active``."""
    for fanout in sorted(root.iterdir()):
        if not is_fanout(fanout):
            continue
        for path in sorted(fanout.iterdir()):
            if not LEFTOVER_RE.fullmatch(path.name) or path in active:
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if path.name.endswith(CORRUPT_SUFFIX) or st.st_mtime < cutoff:
                yield path, st.st_size


@dataclass
class StoreEntry:
    """One directory entry of the blob store, classified."""

    path: Path
    kind: str
    """``blob``, ``temp``, ``corrupt`` or ``unexpected``."""


def scan_store(root: Path) -> Iterator[StoreEntry]:
    """Every entry below ``root``, in order, classified (nothing when there is no store yet)."""
    if not root.is_dir():
        return
    for top in sorted(root.iterdir()):
        if not is_fanout(top):
            yield StoreEntry(top, "unexpected")
            continue
        for path in sorted(top.iterdir()):
            name = path.name
            if is_blob_name(name, top.name) and path.is_file():
                yield StoreEntry(path, "blob")
            elif (match := LEFTOVER_RE.fullmatch(name)) and path.is_file():
                yield StoreEntry(path, "temp" if match[2] == TEMP_SUFFIX[1:] else "corrupt")
            else:
                yield StoreEntry(path, "unexpected")


# --- moving bad files out ----------------------------------------------------------------------


def quarantine(data_dir: Path, path: Path, identity: tuple[int, int] | None = None) -> Path | None:
    """Move ``path`` into ``<data_dir>/quarantine/``; None when it changed or went away meanwhile.

    With ``identity``, only the very file that was hashed is moved: if an upload replaced it with
    good bytes since, the good copy stays (or is put back, if it was replaced in the instant
    between our look and the move).
    """
    folder = data_dir / QUARANTINE_DIR
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = folder / f"{path.name.lstrip('.')}.{stamp}.{secrets.token_hex(4)}"
    try:
        if identity is not None and file_identity(path.stat()) != identity:
            return None
        try:
            os.rename(path, aside)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # the quarantine is on another file system
                raise
            shutil.move(path, aside)
    except FileNotFoundError:
        return None
    if identity is not None and file_identity(aside.stat()) != identity:
        os.replace(aside, path)  # a fresh, verified upload landed just then: put it back
        return None
    return aside

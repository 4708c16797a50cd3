"""Unfinished downloads: where they are kept, how they are opened, how they become the file.

A download goes to a hidden partial file next to its destination and is renamed into place
once its digest matches. The destination is often a shared folder (``/tmp``, a team share), so
nothing found there is trusted:

- the partial file's name comes from a hash of the digest and the destination's name, never
  from the name plus a suffix: every name the relay accepts (up to 255 bytes) still leaves a
  partial file name the file system takes, and the digest in it means a partial file is only
  ever resumed with the same bytes;
- it is opened without following symbolic links (``O_NOFOLLOW``) and used only when it is a
  regular file of ours with no other hard link: a link planted by another local user can
  neither be appended to nor read;
- the final rename moves the very file we wrote (same device and inode as our open handle),
  and a rename replaces a symbolic link at the destination rather than writing through it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Final

from relay_client.files import fsync_directory
from relay_core import Conflict, StreamingHash

PART_SUFFIX: Final = ".part"
READ_CHUNK_BYTES: Final = 1024 * 1024
_OPEN_FLAGS: Final = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def partial_path(dest: Path, sha256: str) -> Path:
    """Where an unfinished download of ``sha256`` to ``dest`` is kept (a hidden file beside it).

    About 40 characters whatever ``dest``'s name is; the digest's start is in it, so a partial
    file is only ever resumed with the same bytes, and a hash of the destination's name keeps
    two downloads of the same bytes to two names apart.
    """
    name_hash = hashlib.sha256(dest.name.encode("utf-8", "surrogateescape")).hexdigest()
    return dest.with_name(f".{sha256[:16]}-{name_hash[:16]}{PART_SUFFIX}")


class PartialFile:
    """An open partial file of ours: what it holds so far, appended to, then moved into place.

    Raises:
        Conflict: (from the constructor) the path is a symbolic link, not a regular file, not
            ours, or has another hard link; nothing is read or written then.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, _OPEN_FLAGS, 0o600)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK) or path.is_symlink():
                raise _not_ours(path, "is a symbolic link") from None
            if exc.errno == errno.EISDIR:
                raise _not_ours(path, "is not a regular file") from None
            raise
        try:
            self._check_ours()
            self.hasher = self._hash_contents()
        except BaseException:
            os.close(self._fd)
            raise

    def _check_ours(self) -> None:
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_ours(self.path, "is not a regular file")
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise _not_ours(self.path, f"belongs to another user (uid {info.st_uid})")
        if info.st_nlink != 1:
            raise _not_ours(self.path, "has another hard link")
        self._identity = (info.st_dev, info.st_ino)

    def _hash_contents(self) -> StreamingHash:
        hasher = StreamingHash()
        os.lseek(self._fd, 0, os.SEEK_SET)
        while chunk := os.read(self._fd, READ_CHUNK_BYTES):
            hasher.update(chunk)
        return hasher

    @property
    def size(self) -> int:
        """Bytes held so far."""
        return self.hasher.size

    def restart(self) -> None:
        """Drop what is held and start from byte 0."""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self.hasher = StreamingHash()

    def append(self, chunk: bytes) -> None:
        """Write ``chunk`` at the end and hash it."""
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.hasher.update(chunk)

    def sync(self) -> None:
        """Make what was written durable."""
        os.fsync(self._fd)

    def move_to(self, dest: Path) -> None:
        """Rename the file into place as ``dest`` (replacing a file or link there).

        Raises:
            Conflict: the name no longer refers to the file we wrote (it was swapped).
        """
        self.sync()
        try:
            current = os.lstat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or (current.st_dev, current.st_ino) != self._identity:
            raise _not_ours(self.path, "was replaced while the download ran")
        os.replace(self.path, dest)
        fsync_directory(dest.parent)

    def discard(self) -> None:
        """Remove the file (only if the name still refers to ours)."""
        try:
            current = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (current.st_dev, current.st_ino) == self._identity:
            self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close our handle (the file stays, to be resumed)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _not_ours(path: Path, what: str) -> Conflict:
    return Conflict(
        f"{path} {what}, not a partial download of ours: it was left alone; remove it, or "
        "download to a folder only you can write to"
    )

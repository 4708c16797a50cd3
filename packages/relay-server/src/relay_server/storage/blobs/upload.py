"""One blob being written into the store: chunks in, checked against limits, committed or aborted.

Made by :meth:`BlobStore.begin <relay_server.storage.blobs.store.BlobStore.begin>`; the store
does the accounting, this does the writing and the checks of size and digest.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO, NoReturn, Protocol

from relay_core.blobs import StreamingHash
from relay_core.errors import InvalidInput, QuotaExceeded, TooLarge
from relay_server.storage.blobs.closing import ClosedOnExit
from relay_server.storage.blobs.files import DISK_FULL_ERRNOS, disk_full


class UploadSpace(Protocol):
    """What an upload needs from its store: the size limit, and the room it takes and gives back."""

    max_blob_bytes: int

    def grow(self, size: int, sha256: str) -> None: ...

    def install(self, upload: Upload, size: int) -> bool: ...

    def release(
        self, owner: str, declared_size: int, received: int, temp: Path | None = None
    ) -> None: ...


class Upload(ClosedOnExit):
    """One blob being written: ``write`` chunks, then ``commit`` or ``abort``.

    Used as a context manager it aborts on leaving unless committed. Any failure (too many bytes,
    disk full, digest mismatch) removes the temp file before the error is raised.
    """

    def __init__(
        self,
        space: UploadSpace,
        sha256: str,
        declared_size: int,
        owner: str,
        counted: bool,
        temp: Path,
        handle: BinaryIO,
    ) -> None:
        """Made by :meth:`BlobStore.begin`; not meant to be built directly."""
        self.space = space
        self.sha256 = sha256
        self.declared_size = declared_size
        self.owner = owner
        self.counted = counted
        """False when the blob was already stored at the start: its bytes need no room."""
        self.temp = temp
        self._handle = handle
        self._hash = StreamingHash()
        self._held = 0
        self._done = False

    @property
    def received(self) -> int:
        """Bytes written so far."""
        return self._hash.size

    @property
    def held(self) -> int:
        """Bytes of the quota this upload holds: what it received, unless it needs no room."""
        return self._held

    def handed_over(self) -> int:
        """Stop holding received bytes (they are stored now); how many it held."""
        held, self._held = self._held, 0
        return held

    def write(self, chunk: bytes) -> None:
        """Append a chunk; TooLarge past the size limit, InvalidInput past the declared size,
        QuotaExceeded when the store has no room left for it (uploads that started together may
        not all fit)."""
        self._append(chunk)
        self._hash.update(chunk)

    def _adopt(self, data: bytes, hashed: StreamingHash) -> None:
        """Write ``data`` whole and take ``hashed``, computed over these very bytes, as its hash
        (for :meth:`BlobStore.add_bytes`, which named the blob by that hash)."""
        self._append(data)
        self._hash = hashed

    def _append(self, chunk: bytes) -> None:
        """Check the limits and write ``chunk`` to the temp file (the caller hashes it)."""
        self._check_open()
        size = self._hash.size + len(chunk)
        if size > self.space.max_blob_bytes:
            self.abort()
            raise TooLarge(
                f"blob {self.sha256} is over the limit of {self.space.max_blob_bytes} bytes"
            )
        if size > self.declared_size:
            self.abort()
            raise InvalidInput(
                f"blob {self.sha256} sent more than the {self.declared_size} bytes declared"
            )
        if self.counted:
            try:
                self.space.grow(len(chunk), self.sha256)
            except QuotaExceeded:
                self.abort()
                raise
            self._held += len(chunk)
        try:
            self._handle.write(chunk)
        except OSError as exc:
            self._fail(exc)

    def commit(self) -> bool:
        """Check size and digest, then make the blob visible; True when its bytes were new.

        InvalidInput when fewer bytes arrived than declared or the digest differs
        (``digest mismatch: ...``); QuotaExceeded when the disk filled up. The temp file is
        removed on every failure.
        """
        self._check_open()
        received, digest = self._hash.size, self._hash.hexdigest()
        if received != self.declared_size:
            self.abort()
            raise InvalidInput(
                f"blob {self.sha256} ended after {received} of {self.declared_size} bytes"
            )
        if digest != self.sha256:
            self.abort()
            raise InvalidInput(
                f"digest mismatch: the bytes sent hash to {digest}, not {self.sha256}"
            )
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            # Closing drops the temp file's lock, so close only once it has its final name:
            # a checker must never see it unlocked and remove it before the rename.
            created = self.space.install(self, received)
            self._handle.close()
        except OSError as exc:
            self._fail(exc)
        except BaseException:
            self.abort()
            raise
        self._done = True
        self.space.release(self.owner, self.declared_size, self.held, self.temp)
        return created

    def abort(self) -> None:
        """Give up: remove the temp file and release the reserved room (idempotent)."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()
        self.space.release(self.owner, self.declared_size, self.held, self.temp)

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError(f"upload of {self.sha256} is already finished")

    def _fail(self, exc: OSError) -> NoReturn:
        """Clean up after an I/O error and raise it in the relay's terms (or as is)."""
        self.abort()
        if exc.errno in DISK_FULL_ERRNOS:
            raise disk_full(exc, self.sha256) from exc
        raise exc

    def close(self) -> None:
        """Abort unless committed: what leaving a ``with`` block does."""
        self.abort()

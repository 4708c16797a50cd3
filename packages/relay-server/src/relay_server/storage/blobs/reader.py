"""Reading one stored blob, or a range of it, in chunks; a whole blob is verified as it goes.

Made by :meth:`BlobStore.open_for_read <relay_server.storage.blobs.store.BlobStore.open_for_read>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from relay_core.blobs import CHUNK_BYTES, StreamingHash
from relay_core.errors import NotFound
from relay_server.storage.blobs.closing import ClosedOnExit

Quarantine = Callable[[str, tuple[int, int]], None]
"""Moves a blob found damaged out of the store: its digest and the identity of the file read."""


class BlobReader(ClosedOnExit):
    """Chunks of one blob's byte range; the whole blob is verified against its digest on the way.

    A read of the whole blob hashes it as it goes and yields the last chunk only once the digest
    matched; on a mismatch the blob is moved out of the store and NotFound is raised instead, so
    no reader ever gets a complete copy of corrupt bytes. That costs one hash of what is served.

    A read of part of a blob (a ``Range`` request) reads only that part and does not verify:
    hashing the rest would make a 1-byte range cost a read of the whole file, which anyone
    allowed to read the file could repeat in parallel to starve the relay's disk. The bytes were
    verified when they were written, ``agent-relay-server check`` verifies them again, and the
    relay's own client hashes a download resumed with a range as a whole before keeping it (on
    a mismatch it drops what it has, and its next attempt fetches the whole file, verified here).
    """

    def __init__(
        self,
        quarantine: Quarantine,
        sha256: str,
        handle: BinaryIO,
        identity: tuple[int, int],
        size: int,
        start: int,
        last: int,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        """Made by :meth:`BlobStore.open_for_read`; not meant to be built directly."""
        self._quarantine = quarantine
        self.sha256 = sha256
        self.size = size
        """Size of the whole blob."""
        self.start = start
        """First byte served."""
        self.last = last
        """Last byte served (inclusive); ``start - 1`` for an empty blob."""
        self._handle = handle
        self._identity = identity
        self._chunk_bytes = chunk_bytes

    @property
    def length(self) -> int:
        """How many bytes the reader yields."""
        return self.last - self.start + 1

    @property
    def whole(self) -> bool:
        """True when the reader serves the whole blob (and therefore verifies it)."""
        return self.start == 0 and self.last == self.size - 1

    def __iter__(self) -> Iterator[bytes]:
        """Yield the range in chunks of at most 1 MiB; for the whole blob, the last one only
        after verification."""
        if not self.whole:
            yield from self._read_range()
            return
        try:
            digest, held = StreamingHash(), None
            for chunk, serve in self._read_all():
                digest.update(chunk)
                if serve:
                    if held is not None:
                        yield held
                    held = chunk
        finally:
            self.close()  # also when the consumer stops early (a client that went away)
        if digest.hexdigest() != self.sha256 or digest.size != self.size:
            self._quarantine(self.sha256, self._identity)
            raise NotFound(
                f"blob {self.sha256} failed verification and was removed; upload it again"
            )
        if held is not None:
            yield held

    def _read_all(self) -> Iterator[tuple[bytes, bool]]:
        """Every chunk of the file, each with whether it lies in the served range."""
        position = 0
        for limit, serve in ((self.start, False), (self.last + 1, True), (None, False)):
            while limit is None or position < limit:
                want = (
                    self._chunk_bytes if limit is None else min(self._chunk_bytes, limit - position)
                )
                chunk = self._handle.read(want)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk, serve

    def _read_range(self) -> Iterator[bytes]:
        """The served range and nothing else, unverified (see the class docstring)."""
        try:
            self._handle.seek(self.start)
            left = self.length
            while left > 0:
                chunk = self._handle.read(min(self._chunk_bytes, left))
                if not chunk:
                    return  # the file shrank since it was opened: the client sees a short body
                left -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Release the file (idempotent)."""
        self._handle.close()

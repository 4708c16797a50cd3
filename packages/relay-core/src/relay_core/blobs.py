"""Content addressing: streaming SHA-256 and digest validation.

Files are named by the lowercase hex SHA-256 of their bytes. Hashing is streamed in chunks, so a
file of any size is hashed in constant memory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Final, NamedTuple

from relay_core.errors import InvalidInput, pydantic_check, shown

DIGEST_HEX_CHARS: Final = 64
CHUNK_BYTES: Final = 1024 * 1024
_DIGEST_RE: Final = re.compile(r"[0-9a-f]{64}")


def validate_digest(value: object) -> str:
    """Return ``value`` if it is a hex SHA-256 digest (lowercase), else raise InvalidInput."""
    if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
        raise InvalidInput(
            f"{shown(value)} is not a SHA-256 digest: use 64 lowercase hex characters"
        )
    return value


Digest = Annotated[str, pydantic_check(validate_digest)]


def blob_relpath(digest: str) -> str:
    """Where a blob lives below a store root: ``ab/abcdef...`` (a fan-out by the first byte)."""
    validate_digest(digest)
    return f"{digest[:2]}/{digest}"


class Hashed(NamedTuple):
    """The digest and size of some bytes."""

    sha256: str
    size: int


class StreamingHash:
    """SHA-256 and byte count of data fed in pieces."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Add the next piece."""
        self._hash.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        """The digest of everything fed so far."""
        return self._hash.hexdigest()

    def result(self) -> Hashed:
        """Digest and size of everything fed so far."""
        return Hashed(self._hash.hexdigest(), self.size)


def hash_chunks(chunks: Iterable[bytes]) -> Hashed:
    """Hash an iterable of byte chunks; returns the digest and total size."""
    streaming = StreamingHash()
    for chunk in chunks:
        streaming.update(chunk)
    return streaming.result()


def iter_file(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterable[bytes]:
    """Yield a file's bytes in chunks of at most ``chunk_bytes``."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk


def hash_file(path: Path) -> Hashed:
    """Hash a file in constant memory; returns its digest and size."""
    return hash_chunks(iter_file(path))

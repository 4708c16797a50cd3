"""What the blob store reports: its usage, one stored blob, and what a garbage collection did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Usage(NamedTuple):
    """How much the store holds."""

    # The field hides tuple.count, which nothing here calls: ``usage().count`` reads better.
    count: int  # type: ignore[assignment]
    bytes: int


class StoredBlob(NamedTuple):
    """A blob on disk: its digest, size and last upload time (the file's mtime, Unix seconds)."""

    sha256: str
    size: int
    mtime: float


@dataclass(frozen=True)
class GcReport:
    """What a garbage collection removed (or, in a dry run, would remove)."""

    blobs: list[StoredBlob] = field(default_factory=list)
    """Unreferenced blobs past the grace period."""
    temp_files: list[str] = field(default_factory=list)
    """Leftover temp (and quarantined corrupt) files, as paths relative to the store root."""
    temp_bytes: int = 0
    """Bytes held by those leftover files."""
    dry_run: bool = False
    """True when nothing was actually removed."""

    @property
    def blob_bytes(self) -> int:
        """Bytes held by the removed blobs."""
        return sum(blob.size for blob in self.blobs)

    @property
    def freed_bytes(self) -> int:
        """Every byte removed: blobs and leftovers."""
        return self.blob_bytes + self.temp_bytes

"""Garbage collection of the blob store: blobs nothing references, and leftovers of uploads.

A part of :class:`~relay_server.storage.blobs.store.BlobStore` (a mixin), apart because it is a
job of its own: the store writes and reads, this removes. ``agent-relay-server gc`` runs it in its
own process while the relay serves, so nothing here trusts what the process alone knows.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from relay_server.storage.blobs.files import (
    CORRUPT_SUFFIX,
    STALE_TEMP_S,
    claim_leftover,
    iter_blobs,
    stale_leftovers,
)
from relay_server.storage.blobs.records import GcReport, StoredBlob, Usage


class GarbageCollection:
    """``gc`` and its steps, over the state of the :class:`BlobStore` it is mixed into."""

    root: Path
    _lock: threading.Lock
    _usage: Usage
    _active_temps: set[Path]

    if TYPE_CHECKING:

        def path_of(self, sha256: str) -> Path:
            """Where the blob ``sha256`` lives (the store's)."""
            ...

    def gc(
        self,
        referenced: Callable[[str], bool] | Collection[str],
        grace_s: float,
        now: float | None = None,
        dry_run: bool = False,
        stale_temp_s: float = STALE_TEMP_S,
    ) -> GcReport:
        """Remove blobs nothing references whose last upload is older than ``grace_s``.

        Also removes temp files of crashed uploads untouched for ``stale_temp_s`` (never one an
        upload in any process still holds locked) and blobs quarantined after failing
        verification. ``referenced`` is a set of digests or a predicate (asked once per
        candidate, just before removal). ``now`` defaults to the clock. With
        ``dry_run`` nothing is removed and the report says what would be.
        """
        now = time.time() if now is None else now
        is_referenced = referenced if callable(referenced) else referenced.__contains__
        blobs: list[StoredBlob] = []
        for blob in iter_blobs(self.root):
            if now - blob.mtime < grace_s or is_referenced(blob.sha256):
                continue
            if dry_run:
                blobs.append(blob)
            elif (removed := self._remove_if_expired(blob.sha256, now - grace_s)) is not None:
                blobs.append(removed)
        leftovers: list[str] = []
        leftover_bytes = 0
        with self._lock:
            active = set(self._active_temps)
        for path, size in stale_leftovers(self.root, now - stale_temp_s, active):
            if self._remove_leftover(path, dry_run):
                leftovers.append(str(path.relative_to(self.root)))
                leftover_bytes += size
        return GcReport(blobs, leftovers, leftover_bytes, dry_run)

    def _remove_leftover(self, path: Path, dry_run: bool) -> bool:
        """Remove an old temp file unless an upload is writing it; True when it is (or would be)
        removed.

        Age alone says nothing about a live upload: one stalled for hours (a laptop asleep mid
        transfer) keeps its file locked, and ``gc`` runs in its own process, where the relay's
        list of active uploads is not visible. So the file is removed only under its lock, the
        way ``check --repair`` does. A quarantined ``.corrupt`` copy has no writer.
        """
        if path.name.endswith(CORRUPT_SUFFIX):
            if not dry_run:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            return True
        with claim_leftover(path) as claimed:
            if claimed and not dry_run:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            return claimed

    def _remove_if_expired(self, sha256: str, cutoff: float) -> StoredBlob | None:
        """Unlink a blob unless it was uploaded again since the scan (which bumps its mtime)."""
        target = self.path_of(sha256)
        with self._lock:
            try:
                st = target.stat()
            except FileNotFoundError:
                return None
            if st.st_mtime > cutoff:
                return None
            target.unlink()
            count, total = self._usage
            self._usage = Usage(count - 1, total - st.st_size)
        return StoredBlob(sha256, st.st_size, st.st_mtime)

"""The content-addressed file store: ``<root>/<first two hex>/<sha256>``.

Writing: :meth:`BlobStore.begin` opens an :class:`Upload` that writes to a temp file in the blob's
fan-out directory while hashing. :meth:`Upload.commit` fsyncs the file, checks size and digest and
only then renames it into place (and fsyncs the directory), so nothing partial or wrong is ever
visible under a blob's name. Every failure removes the temp file.

Reading: :meth:`BlobStore.open_for_read` returns a :class:`BlobReader`. Serving a whole blob
hashes it as the chunks go out and holds back the last chunk until the digest checks out. A
corrupt blob therefore never reaches a reader complete: the stream ends with an error instead (the
HTTP adapter aborts the connection, so the client sees a short body), and the bad file is moved out
of the way so the next upload of the same bytes repairs the store. Serving costs one read and one
hash of the file, which a 1 GiB GET pays anyway for the read; there is no second pass before the
first byte. Serving a range reads only the range and trusts the check made when the blob was
written (and by ``agent-relay-server check``), so a range costs what it serves.

Accounting: the count and bytes of stored blobs are scanned once when the store opens and kept up
to date on every commit and removal, so :meth:`BlobStore.usage` is free (a blob damaged from
outside is counted again when it is repaired or moved aside: its size on disk may have changed).
The quota counts stored bytes plus the bytes uploads in flight have actually received, so
concurrent uploads cannot overshoot it, and an upload is refused up front when its declared
size does not fit. Declared sizes are not held against the quota: an upload that declares 4 GiB
and then sends a byte every few seconds would otherwise lock every other client out of the store
for as long as it dripped.
What one client may have in flight (the sum of its uploads' declared sizes) has its own cap,
``max_in_flight_per_client_bytes``.

The methods are synchronous and thread-safe. Async callers run the slow ones (``commit``, which
fsyncs; reading chunks) in a worker thread.

The store knows nothing of messages or the database: :meth:`BlobStore.gc` is told which digests
are referenced. Its parts live beside it: the names and scans of files on disk in ``files``,
``gc`` in ``gc``, the writer in ``upload`` and the verifying reader in ``reader``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from relay_core.blobs import StreamingHash, blob_relpath
from relay_core.errors import InvalidInput, NotFound, QuotaExceeded, RateLimited, TooLarge
from relay_server.storage.blobs.files import (
    CORRUPT_SUFFIX,
    DISK_FULL_ERRNOS,
    create_locked_temp,
    disk_full,
    file_identity,
    fsync_dir,
    iter_blobs,
    leftover_name,
)
from relay_server.storage.blobs.gc import GarbageCollection
from relay_server.storage.blobs.reader import BlobReader
from relay_server.storage.blobs.records import StoredBlob, Usage
from relay_server.storage.blobs.upload import Upload

log = logging.getLogger(__name__)


class BlobStore(GarbageCollection):
    """Content-addressed files below ``root`` with a per-file size limit and a total quota."""

    def __init__(
        self,
        root: Path,
        max_blob_bytes: int,
        quota_bytes: int,
        max_in_flight_per_client_bytes: int | None = None,
    ) -> None:
        """Open (creating if needed) the store at ``root`` and count what it holds.

        ``max_in_flight_per_client_bytes`` caps the declared sizes of one client's uploads in
        flight (None: no cap).
        """
        if max_blob_bytes < 0 or quota_bytes < 0:
            raise ValueError("max_blob_bytes and quota_bytes must not be negative")
        if max_in_flight_per_client_bytes is not None and max_in_flight_per_client_bytes < 0:
            raise ValueError("max_in_flight_per_client_bytes must not be negative")
        self.root = Path(root)
        self.max_blob_bytes = max_blob_bytes
        self.quota_bytes = quota_bytes
        self.max_in_flight_per_client_bytes = max_in_flight_per_client_bytes
        self._lock = threading.Lock()
        self._received = 0
        self._declared_by: dict[str, int] = {}
        self._active_temps: set[Path] = set()
        self.root.mkdir(parents=True, exist_ok=True)
        self._usage = Usage(0, 0)
        self.rescan()

    # --- paths and lookups -----------------------------------------------------------------

    def path_of(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives (whether or not it exists); InvalidInput if malformed."""
        return self.root / blob_relpath(sha256)

    def exists(self, sha256: str) -> bool:
        """True when the blob is stored; InvalidInput for a malformed digest."""
        return self.path_of(sha256).is_file()

    def size_of(self, sha256: str) -> int | None:
        """The size of a stored blob, or None when it is absent."""
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def stat(self, sha256: str) -> StoredBlob:
        """Size and upload time of a stored blob; NotFound when absent."""
        try:
            st = self.path_of(sha256).stat()
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} is not in the store") from None
        return StoredBlob(sha256, st.st_size, st.st_mtime)

    def usage(self) -> Usage:
        """Count and total bytes of stored blobs (cached; no disk access)."""
        with self._lock:
            return self._usage

    def reserved_bytes(self) -> int:
        """Bytes uploads in flight have received so far (what they hold of the quota)."""
        with self._lock:
            return self._received

    def in_flight_for(self, owner: str) -> int:
        """The declared sizes of ``owner``'s uploads in flight, summed."""
        with self._lock:
            return self._declared_by.get(owner, 0)

    def iter_blobs(self) -> Iterator[StoredBlob]:
        """Every stored blob, read from disk (fan-out directories in order)."""
        return iter_blobs(self.root)

    def rescan(self) -> Usage:
        """Count the blobs on disk again and make that the cached usage."""
        with self._lock:
            self._usage = self._scan()
            return self._usage

    def _recount_after_damage(self) -> None:
        """With the lock held, after a damaged blob was repaired or moved aside: memory counted
        the blob's size when it was stored, and damage from outside may have changed it on
        disk since, so neither size tells what to take off. Damage is rare; a count is exact."""
        self._usage = self._scan()

    def _scan(self) -> Usage:
        # Called with the lock held, so no commit or removal of ours lands mid-count.
        count = total = 0
        for blob in self.iter_blobs():
            count += 1
            total += blob.size
        return Usage(count, total)

    # --- writing ---------------------------------------------------------------------------

    def begin(self, sha256: str, declared_size: int, owner: str = "") -> Upload:
        """Start storing ``declared_size`` bytes that should hash to ``sha256`` for ``owner``.

        Checks happen before a byte is read: InvalidInput for a malformed digest or a negative
        size, TooLarge over ``max_blob_bytes``, RateLimited when ``owner``'s uploads in flight
        would declare more than ``max_in_flight_per_client_bytes``, QuotaExceeded when the
        declared size does not fit beside the stored bytes and those uploads in flight have
        received (a blob already stored needs no room). While bytes arrive, the quota is checked
        again (see :meth:`Upload.write`).
        """
        target = self.path_of(sha256)
        if not isinstance(declared_size, int) or declared_size < 0:
            raise InvalidInput(f"declared size {declared_size!r} is not a byte count")
        if declared_size > self.max_blob_bytes:
            raise TooLarge(
                f"blob of {declared_size} bytes is over the limit of {self.max_blob_bytes} bytes"
            )
        with self._lock:
            counted = not target.is_file()
            self._check_room(declared_size if counted else 0, sha256)
            self._claim_in_flight(owner, declared_size, sha256)
        try:
            created_dir = not target.parent.is_dir()
            target.parent.mkdir(exist_ok=True)
            if created_dir:
                fsync_dir(self.root)
            temp, handle = create_locked_temp(target.parent, sha256)
        except OSError as exc:
            self.release(owner, declared_size, 0)
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc, sha256) from exc
            raise
        with self._lock:
            self._active_temps.add(temp)
        return Upload(self, sha256, declared_size, owner, counted, temp, handle)

    def _claim_in_flight(self, owner: str, declared_size: int, sha256: str) -> None:
        """Count ``declared_size`` towards ``owner``'s cap, or RateLimited; lock held."""
        cap = self.max_in_flight_per_client_bytes
        already = self._declared_by.get(owner, 0)
        if cap is not None and already + declared_size > cap:
            raise RateLimited(
                f"blob {sha256} ({declared_size} bytes) would take your uploads in flight past "
                f"{cap} bytes ({already} already declared): finish or cancel one first"
            )
        self._declared_by[owner] = already + declared_size

    def grow(self, size: int, sha256: str) -> None:
        """Count ``size`` more received bytes against the quota, or QuotaExceeded."""
        with self._lock:
            self._check_room(size, sha256)
            self._received += size

    def put_bytes(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` under ``sha256`` in one call; True when the bytes were new."""
        with self.begin(sha256, len(data)) as upload:
            upload.write(data)
            return upload.commit()

    def add_bytes(self, data: bytes, owner: str = "") -> tuple[str, bool]:
        """Store bytes held in memory under their own digest, hashing them once.

        Returns the digest and whether the bytes were new. Raises like :meth:`begin`.
        """
        hashed = StreamingHash()
        hashed.update(data)
        with self.begin(hashed.hexdigest(), len(data), owner) as upload:
            upload._adopt(data, hashed)
            return hashed.hexdigest(), upload.commit()

    def _check_room(self, needed: int, sha256: str, own_received: int = 0) -> None:
        """QuotaExceeded unless ``needed`` more bytes fit; call with the lock held.

        Before refusing, the store is counted again: ``agent-relay-server gc`` runs in its own
        process, and the space it freed shows up here without a restart.
        """
        committed = self._usage.bytes + self._received - own_received
        if committed + needed > self.quota_bytes:
            self._usage = self._scan()
            committed = self._usage.bytes + self._received - own_received
        if committed + needed > self.quota_bytes:
            raise QuotaExceeded(
                f"blob {sha256} ({needed} bytes) would take the store over its quota: "
                f"{committed} of {self.quota_bytes} bytes are stored or being uploaded"
            )

    def release(
        self, owner: str, declared_size: int, received: int, temp: Path | None = None
    ) -> None:
        """Give back what an upload held: its received bytes, its declared size, its temp file."""
        with self._lock:
            self._received -= received
            left = self._declared_by.get(owner, 0) - declared_size
            if left > 0:
                self._declared_by[owner] = left
            else:
                self._declared_by.pop(owner, None)
            if temp is not None:
                self._active_temps.discard(temp)

    def install(self, upload: Upload, size: int) -> bool:
        """Move a verified temp file into place; True when the blob was not stored before."""
        target = self.path_of(upload.sha256)
        with self._lock:
            try:
                existing = target.stat()
            except FileNotFoundError:
                existing = None
            if existing is not None and existing.st_size == size:
                # Same name and size: the same bytes (a corrupt copy is caught and removed when
                # served). Restart the grace period so gc keeps a blob someone just sent again.
                os.utime(target)
                upload.temp.unlink()
                self._received -= upload.handed_over()
                return False
            self._check_room(
                size - (existing.st_size if existing else 0), upload.sha256, upload.held
            )
            os.replace(upload.temp, target)
            # From here the bytes count as stored, not as received: same lock, no double count.
            self._received -= upload.handed_over()
            if existing is None:
                count, total = self._usage
                self._usage = Usage(count + 1, total + size)
            else:  # a damaged copy, repaired: count again (see _recount_after_damage)
                self._recount_after_damage()
        fsync_dir(target.parent)
        return existing is None

    # --- reading ---------------------------------------------------------------------------

    def open_for_read(self, sha256: str, start: int = 0, end: int | None = None) -> BlobReader:
        """Open a stored blob to serve bytes ``start`` to ``end`` (inclusive; default: the end).

        NotFound when absent, InvalidInput for a range that does not fit the blob (``start`` may
        equal the size only for an empty blob). A reader of the whole blob verifies it while it
        is read, a reader of part of it reads only that part; see :class:`BlobReader`.
        """
        path = self.path_of(sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} is not in the store") from None
        st = os.fstat(handle.fileno())
        size = st.st_size
        last = size - 1 if end is None else min(end, size - 1)
        if start < 0 or (size > 0 and start > last) or (size == 0 and start != 0):
            handle.close()
            raise InvalidInput(f"range {start}-{end} is outside blob {sha256} of {size} bytes")
        return BlobReader(
            self._quarantine, sha256, handle, file_identity(st), size, start, max(last, start - 1)
        )

    def read_bytes(self, sha256: str) -> bytes:
        """A whole blob in memory, verified; for small files only."""
        with self.open_for_read(sha256) as reader:
            return b"".join(reader)

    def verify(self, sha256: str) -> bool:
        """Re-hash a stored blob: True when intact; a corrupt one is moved aside (False).

        NotFound when the blob is not stored.
        """
        with self.open_for_read(sha256) as reader:
            try:
                for _chunk in reader:
                    pass
            except NotFound:
                return False
        return True

    def _quarantine(self, sha256: str, identity: tuple[int, int]) -> None:
        """Move a blob that failed verification out of the store, unless it was replaced.

        ``identity`` is the ``(st_dev, st_ino)`` of the file the reader hashed.
        """
        target = self.path_of(sha256)
        with self._lock:
            try:
                current = target.stat()
            except FileNotFoundError:
                return
            if file_identity(current) != identity:
                return  # an upload already repaired it
            aside = target.parent / leftover_name(sha256, CORRUPT_SUFFIX)
            os.replace(target, aside)
            self._recount_after_damage()
        log.error("blob %s failed verification; moved to %s", sha256, aside.name)

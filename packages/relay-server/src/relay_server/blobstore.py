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
to date on every commit and removal, so :meth:`BlobStore.usage` is free. The quota counts stored
bytes plus the bytes uploads in flight have actually received, so concurrent uploads cannot
overshoot it, and an upload is refused up front when its declared size does not fit. Declared
sizes are not held against the quota: an upload that declares 4 GiB and then sends a byte every
few seconds would otherwise lock every other client out of the store for as long as it dripped.
What one client may have in flight (the sum of its uploads' declared sizes) has its own cap,
``max_in_flight_per_client_bytes``.

The methods are synchronous and thread-safe. Async callers run the slow ones (``commit``, which
fsyncs; reading chunks) in a worker thread.

The store knows nothing of messages or the database: :meth:`BlobStore.gc` is told which digests
are referenced.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, NamedTuple, NoReturn, Self

from relay_core.blobs import CHUNK_BYTES, StreamingHash, blob_relpath
from relay_core.errors import InvalidInput, NotFound, QuotaExceeded, RateLimited, TooLarge

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; leftovers are judged by age
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TEMP_SUFFIX: Final = ".part"
"""Temp files are ``<fan-out>/.<sha256>.<random>.part``: hidden, never a valid blob name."""
CORRUPT_SUFFIX: Final = ".corrupt"
"""A blob that failed verification is renamed to ``<fan-out>/.<sha256>.<random>.corrupt``."""
STALE_TEMP_S: Final = 6 * 3600.0
"""A temp file untouched this long belongs to an upload that crashed; gc removes it."""
_DISK_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
_FANOUT_RE: Final = re.compile(r"[0-9a-f]{2}")
_BLOB_RE: Final = re.compile(r"[0-9a-f]{64}")
_LEFTOVER_RE: Final = re.compile(r"\.[0-9a-f]{64}\.[0-9a-f]+\.(part|corrupt)")


class Usage(NamedTuple):
    """How much the store holds."""

    count: int
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


def _fsync_dir(path: Path) -> None:
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


def _create_locked_temp(fanout: Path, sha256: str) -> tuple[Path, BinaryIO]:
    """Create a new temp file for ``sha256`` and hold an exclusive lock on it until it closes.

    The lock tells other processes (``agent-relay-server check``) that an upload is writing the
    file; the kernel drops it when the relay dies, so a crashed upload's file is unlocked. A
    checker removes a leftover only while holding its lock, so if it claimed this file in the
    instant between its creation and our lock, the file is gone once we hold the lock: start over.
    """
    while True:
        temp = fanout / f".{sha256}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
        handle = temp.open("xb")
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            opened = os.fstat(handle.fileno())
            named = temp.stat()
            if (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino):
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
    :func:`_create_locked_temp`). Where file locks are not available it yields True only for files
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


def _disk_full(exc: OSError, digest: str) -> QuotaExceeded:
    # 507 Insufficient Storage is what a full disk means over HTTP: retrying soon will not help
    # (503's promise) until someone frees space, exactly as with the configured quota.
    return QuotaExceeded(
        f"the relay's disk is full: blob {digest} was not stored ({os.strerror(exc.errno or 0)})"
    )


class BlobStore:
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
        for fanout in sorted(self.root.iterdir()):
            if not (_FANOUT_RE.fullmatch(fanout.name) and fanout.is_dir()):
                continue
            with os.scandir(fanout) as entries:
                for entry in entries:
                    if _BLOB_RE.fullmatch(entry.name) and entry.name[:2] == fanout.name:
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue  # removed while we looked
                        yield StoredBlob(entry.name, st.st_size, st.st_mtime)

    def rescan(self) -> Usage:
        """Count the blobs on disk again and make that the cached usage."""
        with self._lock:
            self._usage = self._scan()
            return self._usage

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
                _fsync_dir(self.root)
            temp, handle = _create_locked_temp(target.parent, sha256)
        except OSError as exc:
            self._release(owner, declared_size, 0)
            if exc.errno in _DISK_FULL_ERRNOS:
                raise _disk_full(exc, sha256) from exc
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

    def _grow(self, size: int, sha256: str) -> None:
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

    def _release(
        self, owner: str, declared_size: int, received: int, temp: Path | None = None
    ) -> None:
        with self._lock:
            self._received -= received
            left = self._declared_by.get(owner, 0) - declared_size
            if left > 0:
                self._declared_by[owner] = left
            else:
                self._declared_by.pop(owner, None)
            if temp is not None:
                self._active_temps.discard(temp)

    def _install(self, upload: Upload, size: int) -> bool:
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
            count, total = self._usage
            if existing is None:
                self._usage = Usage(count + 1, total + size)
            else:  # a truncated or damaged copy, repaired by this upload
                self._usage = Usage(count, total - existing.st_size + size)
        _fsync_dir(target.parent)
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
            self, sha256, handle, (st.st_dev, st.st_ino), size, start, max(last, start - 1)
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
            if (current.st_dev, current.st_ino) != identity:
                return  # an upload already repaired it
            aside = target.parent / f".{sha256}.{secrets.token_hex(8)}{CORRUPT_SUFFIX}"
            os.replace(target, aside)
            count, total = self._usage
            self._usage = Usage(count - 1, total - current.st_size)
        log.error("blob %s failed verification; moved to %s", sha256, aside.name)

    # --- garbage collection ----------------------------------------------------------------

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
        for blob in self.iter_blobs():
            if now - blob.mtime < grace_s or is_referenced(blob.sha256):
                continue
            if dry_run:
                blobs.append(blob)
            elif (removed := self._remove_if_expired(blob.sha256, now - grace_s)) is not None:
                blobs.append(removed)
        leftovers: list[str] = []
        leftover_bytes = 0
        for path, size in self._stale_leftovers(now - stale_temp_s):
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

    def _stale_leftovers(self, cutoff: float) -> Iterator[tuple[Path, int]]:
        with self._lock:
            active = set(self._active_temps)
        for fanout in sorted(self.root.iterdir()):
            if not (_FANOUT_RE.fullmatch(fanout.name) and fanout.is_dir()):
                continue
            for path in sorted(fanout.iterdir()):
                if not _LEFTOVER_RE.fullmatch(path.name) or path in active:
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                if path.name.endswith(CORRUPT_SUFFIX) or st.st_mtime < cutoff:
                    yield path, st.st_size


class _ClosedOnExit:
    """A ``with`` block over the object itself that calls ``close()`` on the way out."""

    def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """The object itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close it."""
        self.close()


class Upload(_ClosedOnExit):
    """One blob being written: ``write`` chunks, then ``commit`` or ``abort``.

    Used as a context manager it aborts on leaving unless committed. Any failure (too many bytes,
    disk full, digest mismatch) removes the temp file before the error is raised.
    """

    def __init__(
        self,
        store: BlobStore,
        sha256: str,
        declared_size: int,
        owner: str,
        counted: bool,
        temp: Path,
        handle: BinaryIO,
    ) -> None:
        """Made by :meth:`BlobStore.begin`; not meant to be built directly."""
        self.store = store
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

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
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

    def _append(self, chunk: bytes | bytearray | memoryview) -> None:
        """Check the limits and write ``chunk`` to the temp file (the caller hashes it)."""
        self._check_open()
        size = self._hash.size + len(chunk)
        if size > self.store.max_blob_bytes:
            self.abort()
            raise TooLarge(
                f"blob {self.sha256} is over the limit of {self.store.max_blob_bytes} bytes"
            )
        if size > self.declared_size:
            self.abort()
            raise InvalidInput(
                f"blob {self.sha256} sent more than the {self.declared_size} bytes declared"
            )
        if self.counted:
            try:
                self.store._grow(len(chunk), self.sha256)
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
            created = self.store._install(self, received)
            self._handle.close()
        except OSError as exc:
            self._fail(exc)
        except BaseException:
            self.abort()
            raise
        self._done = True
        self.store._release(self.owner, self.declared_size, self.held, self.temp)
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
        self.store._release(self.owner, self.declared_size, self.held, self.temp)

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError(f"upload of {self.sha256} is already finished")

    def _fail(self, exc: OSError) -> NoReturn:
        """Clean up after an I/O error and raise it in the relay's terms (or as is)."""
        self.abort()
        if exc.errno in _DISK_FULL_ERRNOS:
            raise _disk_full(exc, self.sha256) from exc
        raise exc

    def close(self) -> None:
        """Abort unless committed: what leaving a ``with`` block does."""
        self.abort()


class BlobReader(_ClosedOnExit):
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
        store: BlobStore,
        sha256: str,
        handle: BinaryIO,
        identity: tuple[int, int],
        size: int,
        start: int,
        last: int,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        """Made by :meth:`BlobStore.open_for_read`; not meant to be built directly."""
        self.store = store
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
            self.store._quarantine(self.sha256, self._identity)
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

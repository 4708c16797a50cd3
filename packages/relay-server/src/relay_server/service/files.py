"""Files: uploads, downloads and garbage collection of the blob store.

Transfers stream both ways and are never held whole: :meth:`FilesFeature.receive_file` takes
the bytes as an async iterator of chunks, :meth:`FilesFeature.open_download` hands back a
:class:`Download` whose chunks the adapter sends on. Adapters never touch the store.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Final, Protocol

import anyio

from relay_core import (
    Attachment,
    BlobInfo,
    InvalidInput,
    NotFound,
    SendMessageRequest,
    TooLarge,
    Unavailable,
    now_ms,
    validate_digest,
)
from relay_server.service.base import ServiceBase
from relay_server.storage import files
from relay_server.storage.blobs import BlobStore, GcReport, StoredBlob, Upload

WRITE_BATCH_BYTES: Final = 1024 * 1024
"""Bytes gathered from an upload's chunks before one hand-off to a worker thread."""
_RANGE_RE: Final = re.compile(r"bytes=([0-9]*)-([0-9]*)")


class LengthRequired(InvalidInput):
    """An upload did not say its size up front (HTTP: no ``Content-Length``)."""

    http_status = 411


class RangeNotSatisfiable(InvalidInput):
    """A requested range starts past the end of the file; ``details["size"]`` is its size."""

    http_status = 416


class BodyCutOff(Exception):
    """Raised by an upload's chunk iterator when the sender went away before the end."""


class Chunks(Protocol):
    """A file's bytes, to iterate once; ``close()`` releases the file if iteration never ends."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Download:
    """A file opened for download: which bytes will be sent, and the chunks that carry them."""

    sha256: str
    size: int
    """Size of the whole file."""
    first: int
    """First byte sent."""
    last: int
    """Last byte sent (inclusive); ``first - 1`` for an empty file."""
    partial: bool
    """True when a range was asked for and is served (HTTP 206)."""
    chunks: Chunks

    @property
    def length(self) -> int:
        """How many bytes are sent."""
        return self.last - self.first + 1

    @property
    def etag(self) -> str:
        """The file's entity tag (see :func:`entity_tag`)."""
        return entity_tag(self.sha256)


class FilesFeature(ServiceBase):
    """Store files by digest and hand them to those who may read them."""

    async def receive_file(
        self,
        caller: str,
        sha256: str,
        declared_size: int | None,
        chunks: AsyncIterable[bytes],
    ) -> BlobInfo:
        """Store a file streamed in ``chunks`` under its digest and record the caller as uploader.

        Limits are checked before a byte is read and again while reading. Chunks are gathered
        into batches of about :data:`WRITE_BATCH_BYTES`, each hashed and written in a worker
        thread, so the event loop never waits on the disk and one upload holds about one batch
        in memory; the fsync and rename at the end run in a worker thread too. On any failure
        nothing is left behind.

        Raises:
            InvalidInput: a malformed digest; the body was cut off (``chunks`` raised
                :class:`BodyCutOff`), ran past ``declared_size`` or fell short of it; or
                ``digest mismatch: ...``.
            LengthRequired: ``declared_size`` is None.
            TooLarge: over ``max_blob_bytes``.
            RateLimited: the caller's uploads in flight would declare more than its cap.
            QuotaExceeded: the store would go over ``blob_quota_bytes``, or the disk filled up.
        """
        validate_digest(sha256)
        if declared_size is None:
            raise LengthRequired("Content-Length is required: send the file with its size")
        store = self._blob_store()
        begin = partial(store.begin, sha256, declared_size, owner=caller)
        upload = await anyio.to_thread.run_sync(begin)
        try:
            await _write_in_batches(upload, chunks)
            return await anyio.to_thread.run_sync(self._finish_upload, caller, upload)
        except BodyCutOff:
            raise InvalidInput(
                f"upload of {sha256} was cut off after {upload.received} of {declared_size} bytes"
            ) from None
        finally:
            upload.abort()  # a no-op once committed; otherwise nothing is left behind

    def _finish_upload(self, caller: str, upload: Upload) -> BlobInfo:
        """Commit an upload (fsync, size and digest check) and record the caller as uploader."""
        created = upload.commit()
        self._record_upload(caller, upload.sha256)
        return BlobInfo(sha256=upload.sha256, size=upload.received, created=created)

    def put_blob(self, caller: str, data: bytes) -> BlobInfo:
        """Store a small file sent inline (MCP ``upload_file``); it is named by its digest.

        Raises:
            TooLarge: over ``inline_file_bytes`` (upload with ``PUT /blobs/{sha256}`` instead).
        """
        self._check_inline(len(data))
        # One hash names the blob; the bytes are in memory, so the store need not hash them
        # again to check that name.
        sha256, created = self._blob_store().add_bytes(data, owner=caller)
        self._record_upload(caller, sha256)
        return BlobInfo(sha256=sha256, size=len(data), created=created)

    def blob_info(self, caller: str, sha256: str) -> StoredBlob:
        """Size and upload time of a file the caller may download.

        Raises:
            NotFound: not stored, or the caller neither uploaded it nor can read a message that
                has it attached (the two are not told apart).
        """
        self._check_blob_access(caller, sha256)
        return self._blob_store().stat(sha256)

    def open_download(
        self, caller: str, sha256: str, range_header: str | None, if_range: str | None
    ) -> Download:
        """Open a file the caller may download: whole, or the one range ``range_header`` asks for.

        ``if_range`` other than the file's :func:`entity_tag` means the client holds other
        bytes, so the range is ignored and the whole file is served (RFC 9110). The caller's
        access is checked once, before the file is opened. The chunks verify the digest as they
        go when they are the whole file (see :class:`~relay_server.storage.blobs.BlobReader`).

        Raises:
            NotFound: as for :meth:`blob_info`.
            RangeNotSatisfiable: the range starts past the end (``details["size"]`` says where
                the file ends).
        """
        self._check_blob_access(caller, sha256)
        store = self._blob_store()
        if if_range is not None and if_range != entity_tag(sha256):
            range_header = None  # the client holds other bytes: start over
        span = requested_range(range_header, store.stat(sha256).size, sha256)
        start, end = span if span is not None else (0, None)
        reader = store.open_for_read(sha256, start, end)
        return Download(
            sha256=sha256,
            size=reader.size,
            first=reader.start,
            last=reader.last,
            partial=span is not None,
            chunks=reader,
        )

    def read_blob(self, caller: str, sha256: str) -> bytes:
        """A whole small file the caller may download, verified (MCP ``download_file``).

        Raises:
            NotFound: as for :meth:`blob_info`.
            TooLarge: over ``inline_file_bytes`` (download with ``GET /blobs/{sha256}``).
        """
        self._check_inline(self.blob_info(caller, sha256).size)
        return self._blob_store().read_bytes(sha256)

    def collect_garbage(
        self, grace_s: float, *, dry_run: bool = False, now: float | None = None
    ) -> GcReport:
        """Remove files no message references once ``grace_s`` has passed since their upload.

        A reference from a message that expired does not count. Also removes temp files left
        by crashed uploads. With ``dry_run``, only reports. ``now`` is in seconds (the clock's).
        """
        at_ms = None if now is None else int(now * 1000)
        referenced = partial(files.blob_referenced, now=at_ms)
        report = self._blob_store().gc(referenced, grace_s=grace_s, now=now, dry_run=dry_run)
        if report.blobs and not dry_run:
            files.forget_uploads(blob.sha256 for blob in report.blobs)
        return report

    def _blob_store(self) -> BlobStore:
        if self.blobs is None:
            raise Unavailable("this relay has no file store")
        return self.blobs

    def _check_inline(self, size: int) -> None:
        if size > self.limits.inline_file_bytes:
            raise TooLarge(
                f"file is {size} bytes; MCP tools move at most {self.limits.inline_file_bytes} "
                "bytes inline: use PUT/GET /blobs/{sha256} (agent-relay send-file / fetch-file)"
            )

    def _record_upload(self, caller: str, sha256: str) -> None:
        stamp = now_ms()
        with self.storage.transaction():
            files.record_upload(caller, sha256, stamp)

    def _check_blob_access(self, caller: str, sha256: str) -> None:
        validate_digest(sha256)
        if not files.may_read_blob(caller, sha256):
            raise NotFound(f"file {sha256} does not exist or is not visible to you")


def resolve_attachments(
    blobs: BlobStore | None, caller: str, request: SendMessageRequest
) -> list[Attachment]:
    """``request``'s attachments with their sizes, each checked to be on the relay.

    Raises:
        InvalidInput: an attachment is not stored, or the caller may not pass it on.
    """
    resolved = []
    for ref in request.attachments:
        size = blobs.size_of(ref.sha256) if blobs else None
        # A file the caller neither uploaded nor can read is refused like a missing one:
        # knowing a digest must not be enough to pass a file on.
        if size is None or not files.may_read_blob(caller, ref.sha256):
            raise InvalidInput(
                f"attachment {ref.filename!r}: file {ref.sha256[:12]}... is not on the relay; "
                "upload it first (PUT /blobs/{sha256} or the upload_file tool)"
            )
        resolved.append(
            Attachment(sha256=ref.sha256, filename=ref.filename, size=size, mime=ref.mime)
        )
    return resolved


def entity_tag(sha256: str) -> str:
    """A file's HTTP entity tag: its digest, quoted. The bytes never change under a name."""
    return f'"{sha256}"'


def _position(digits: str) -> int:
    """A byte position from a ``Range`` header; one past any file when absurdly long.

    ``int()`` refuses more than 4300 digits, and no file has a 20-digit size.
    """
    return int(digits) if len(digits.lstrip("0")) <= 19 else 10**19


def requested_range(range_header: str | None, size: int, sha256: str) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks for, or None to send the whole file.

    Follows RFC 9110: a header that does not parse, asks for several ranges or uses another unit
    is ignored (the whole file is sent); ``bytes=N-``, ``bytes=N-M`` and ``bytes=-K`` (the last K)
    are served.

    Raises:
        RangeNotSatisfiable: the range starts past the end of file ``sha256`` of ``size`` bytes.
    """
    if not range_header:
        return None
    match = _RANGE_RE.fullmatch(range_header.replace(" ", ""))
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # a suffix: the last K bytes
        suffix = _position(match[2])
        if suffix == 0 or size == 0:
            raise _past_the_end(range_header, size, sha256)
        return max(0, size - suffix), size - 1
    first = _position(match[1])
    last = _position(match[2]) if match[2] else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise _past_the_end(range_header, size, sha256)
    return first, size - 1 if last is None else min(last, size - 1)


def _past_the_end(range_header: str, size: int, sha256: str) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"range {range_header!r} is past the end of {sha256}", details={"size": size}
    )


async def _write_in_batches(upload: Upload, chunks: AsyncIterable[bytes]) -> None:
    """Write ``chunks`` into ``upload`` in batches, each by a worker thread."""

    def write_all(pieces: list[bytes]) -> None:
        for piece in pieces:
            upload.write(piece)

    pieces: list[bytes] = []
    pending = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pieces.append(chunk)
        pending += len(chunk)
        # Hand over at once when the body runs past what was declared, so the limit error
        # comes while reading, not after the whole excess has arrived.
        if pending >= WRITE_BATCH_BYTES or upload.received + pending > upload.declared_size:
            await anyio.to_thread.run_sync(write_all, pieces)
            pieces, pending = [], 0
    if pieces:
        await anyio.to_thread.run_sync(write_all, pieces)

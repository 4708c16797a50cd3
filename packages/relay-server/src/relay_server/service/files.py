"""Files: uploads, downloads and garbage collection of the blob store."""

from __future__ import annotations

from relay_core import (
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
from relay_server.storage.blobs import BlobReader, BlobStore, GcReport, StoredBlob, Upload


class FilesFeature(ServiceBase):
    """Store files by digest and hand them to those who may read them."""

    def begin_upload(self, caller: str, sha256: str, declared_size: int) -> Upload:
        """Start storing a file the caller names by digest; limits are checked before any byte.

        Raises:
            InvalidInput: a malformed digest or size.
            TooLarge: over ``max_blob_bytes``.
            RateLimited: the caller's uploads in flight would declare more than its cap.
            QuotaExceeded: the store would go over ``blob_quota_bytes``.
        """
        return self._blob_store().begin(sha256, declared_size, owner=caller)

    def finish_upload(self, caller: str, upload: Upload) -> BlobInfo:
        """Commit an upload (fsync, size and digest check) and record the caller as uploader.

        Slow for big files (fsync): call it from a worker thread.

        Raises:
            InvalidInput: fewer bytes than declared, or ``digest mismatch: ...``.
            QuotaExceeded: the disk filled up.
        """
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

    def open_blob(
        self, caller: str, sha256: str, start: int = 0, end: int | None = None
    ) -> BlobReader:
        """Open a file the caller may download, to stream bytes ``start``..``end`` (inclusive).

        The reader verifies the digest as it goes (see :class:`BlobReader`).

        Raises:
            NotFound: as for :meth:`blob_info`.
            InvalidInput: the range does not fit the file.
        """
        self._check_blob_access(caller, sha256)
        return self._blob_store().open_for_read(sha256, start, end)

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

        Also removes temp files left by crashed uploads. With ``dry_run``, only reports.
        """
        report = self._blob_store().gc(
            files.blob_referenced, grace_s=grace_s, now=now, dry_run=dry_run
        )
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
) -> list[dict[str, object]]:
    """The stored form of ``request``'s attachments, each checked to be on the relay.

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
            {"sha256": ref.sha256, "filename": ref.filename, "size": size, "mime": ref.mime}
        )
    return resolved

"""Files: blobs streamed to and from the relay in constant memory.

The digest is computed locally before an upload, so bytes the relay already holds are never
sent. A download is hashed as it arrives, kept in a partial file (:mod:`relay_client.partial`)
that a later call resumes with ``Range: bytes=N-``, and renamed into place only once its digest
matches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import requests

from relay_client.api.connection import Connection, reason_of
from relay_client.partial import PartialFile, partial_path
from relay_core import (
    BlobInfo,
    Conflict,
    Hashed,
    RelayError,
    Unavailable,
    hash_file,
    validate_digest,
    wire,
)

__all__ = [
    "TRANSFER_CHUNK_BYTES",
    "DigestMismatch",
    "Download",
    "FilesMixin",
    "ProgressCallback",
    "UploadResult",
]

TRANSFER_CHUNK_BYTES: Final = 1024 * 1024

ProgressCallback = Callable[[int, int | None], None]
"""Called as bytes move: (bytes done so far, total bytes or None when unknown)."""


class DigestMismatch(RelayError):
    """Downloaded bytes do not hash to the digest they were asked for by."""


@dataclass(frozen=True)
class UploadResult:
    """What :meth:`FilesMixin.upload_file` did."""

    sha256: str
    size: int
    uploaded: bool
    """False when the relay already had these bytes and nothing was sent."""


@dataclass(frozen=True)
class Download:
    """A finished download."""

    path: Path
    sha256: str
    size: int
    resumed_from: int
    """Bytes that were already in the ``.part`` file when the download started."""


class FilesMixin(Connection):
    """``/blobs/{sha256}``: HEAD, PUT and resumable GET."""

    def blob_size(self, sha256: str) -> int | None:
        """``HEAD /blobs/{sha256}``: the size of a file the relay holds, or None if it has not."""
        response = self._request("HEAD", wire.blob_path(sha256), allow=(404,))
        if response.status_code == 404:
            return None
        length = response.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else 0

    def upload_file(self, path: Path, *, progress: ProgressCallback | None = None) -> UploadResult:
        """Upload a file unless the relay already has its bytes.

        The digest is computed locally first, then ``HEAD`` asks whether the relay knows it; only
        unknown content is streamed with ``PUT``.
        """
        hashed = hash_file(path)
        if self.blob_size(hashed.sha256) is not None:
            if progress:
                progress(hashed.size, hashed.size)
            return UploadResult(hashed.sha256, hashed.size, uploaded=False)
        info = self.put_blob(path, hashed, progress=progress)
        return UploadResult(info.sha256, info.size, uploaded=True)

    def put_blob(
        self, path: Path, hashed: Hashed, *, progress: ProgressCallback | None = None
    ) -> BlobInfo:
        """Stream a file to ``PUT /blobs/{sha256}``; the relay refuses bytes that do not match.

        Safe to retry: the URL names the content, so a repeated PUT stores nothing new.
        """

        def body() -> _ProgressReader:
            return _ProgressReader(path.open("rb"), hashed.size, progress)

        response = self._request(
            "PUT",
            wire.blob_path(hashed.sha256),
            body=body,
            headers={
                "Content-Length": str(hashed.size),
                "Content-Type": "application/octet-stream",
            },
        )
        return self._model(BlobInfo, response)

    def download_blob(
        self,
        sha256: str,
        dest: Path,
        *,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
    ) -> Download:
        """Download a file to ``dest``, resuming an earlier attempt, checking its digest.

        Bytes go to a hidden partial file next to ``dest`` (see :mod:`relay_client.partial`:
        opened without following links, used only when it is ours); an interrupted download
        keeps it and the next call asks only for the rest. ``dest`` appears only when all bytes
        are there and hash to ``sha256``.

        Raises:
            Conflict: ``dest`` exists and ``overwrite`` is false, or the partial file's name is
                taken by something that is not ours (a planted link).
            DigestMismatch: the bytes do not match (the partial file is removed).
            Unavailable: the transfer broke off (run again to resume).
        """
        validate_digest(sha256)
        if dest.exists() and not overwrite:
            raise Conflict(f"{dest} already exists: pass --force to replace it")
        with PartialFile(partial_path(dest, sha256)) as part:
            resumed_from = self._fetch_into(sha256, part, progress)
            if resumed_from is None:
                # The relay would not continue this partial file (it does not fit its bytes).
                part.restart()
                resumed_from = self._fetch_into(sha256, part, progress)
            if resumed_from is None:
                raise RelayError(f"the relay answered a download of {sha256} with a wrong range")
            if part.hasher.hexdigest() != sha256:
                part.discard()
                raise DigestMismatch(
                    f"the downloaded bytes hash to {part.hasher.hexdigest()}, not {sha256}: "
                    "the partial file was removed; run the command again"
                )
            part.move_to(dest)
            return Download(dest, sha256, part.size, resumed_from)

    def _fetch_into(
        self, sha256: str, part: PartialFile, progress: ProgressCallback | None
    ) -> int | None:
        """Append what ``part`` lacks; where it resumed, or None if the relay cannot continue it."""
        offset = part.size
        if offset and part.hasher.hexdigest() == sha256:
            return offset
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._request(
            "GET", wire.blob_path(sha256), headers=headers, stream=True, allow=(416,)
        )
        with response:
            if response.status_code == 416:
                return None
            if response.status_code == 206:
                if _range_start(response) != offset:
                    return None
            elif offset:
                part.restart()
                offset = 0
            total = _total_size(response, offset)
            self._copy_stream(response, part, progress, total)
        return offset

    def _copy_stream(
        self,
        response: requests.Response,
        part: PartialFile,
        progress: ProgressCallback | None,
        total: int | None,
    ) -> None:
        if progress:
            progress(part.size, total)
        try:
            for chunk in response.iter_content(TRANSFER_CHUNK_BYTES):
                part.append(chunk)
                if progress:
                    progress(part.size, total)
        except requests.RequestException as exc:
            raise Unavailable(
                f"the download from {self.base_url} stopped after {part.size} bytes "
                f"({reason_of(exc)}): run the command again to resume"
            ) from None
        finally:
            part.sync()


class _ProgressReader:
    """A file object for ``requests`` that reports how much of it has been sent."""

    def __init__(self, handle: IO[bytes], size: int, progress: ProgressCallback | None) -> None:
        self._handle = handle
        self._size = size
        self._progress = progress
        self._done = 0

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._done += len(chunk)
        if self._progress and chunk:
            self._progress(self._done, self._size)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(TRANSFER_CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        self._handle.close()


def _range_start(response: requests.Response) -> int:
    """The first byte of a 206 answer (``Content-Range: bytes N-M/T``), or -1 if unreadable."""
    value = response.headers.get("Content-Range", "")
    with contextlib.suppress(ValueError, IndexError):
        return int(value.split()[1].split("-")[0])
    return -1


def _total_size(response: requests.Response, start: int) -> int | None:
    """The whole file's size from Content-Range or Content-Length, if the relay sent it."""
    content_range = response.headers.get("Content-Range", "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = response.headers.get("Content-Length", "")
    return start + int(length) if length.isdigit() else None

"""The file routes: ``PUT``, ``HEAD`` and ``GET /blobs/{sha256}`` (see docs/http-api.md).

Bytes stream both ways and are never held whole. An upload's body is read as it arrives; pieces
are gathered into batches of about 1 MiB and each batch is hashed and written in a worker thread,
so the event loop (and every long-poll on it) never waits on the disk, and one upload holds about
one batch in memory. The fsync and rename at the end run in a worker thread too. A download is a
verifying :class:`~relay_server.storage.blobs.BlobReader` iterated in a worker thread, 1 MiB a
chunk.

Limits are checked before a byte is read (``Content-Length`` against ``max_blob_bytes`` and the
quota) and again while reading. The caller comes from the auth middleware like on every route, and
errors are answered by :mod:`relay_server.http.errors`.
"""

from __future__ import annotations

import re
from typing import Final

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from relay_core import InvalidInput, validate_digest
from relay_core.wire import BLOBS_PREFIX
from relay_server.http.errors import error_response
from relay_server.http.params import caller_of
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of
from relay_server.storage.blobs import BlobReader, Upload

WRITE_BATCH_BYTES: Final = 1024 * 1024
"""Bytes gathered from the request body before one hand-off to a worker thread."""
OCTET_STREAM: Final = "application/octet-stream"
_RANGE_RE: Final = re.compile(r"bytes=([0-9]*)-([0-9]*)")


class BlobResponse(StreamingResponse):
    """A blob's bytes, with its file closed however the response ends.

    The reader closes the file when iterated to the end or stopped early, but a response that
    fails or is cancelled before its body starts (the client went away) never iterates it.
    """

    def __init__(self, reader: BlobReader, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(reader, status_code=status_code, headers=headers, media_type=OCTET_STREAM)
        self.reader = reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.reader.close()


class RangeNotSatisfiable(Exception):
    """A ``Range`` that lies wholly past the end of the file: answered with 416."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range outside a file of {size} bytes")
        self.size = size


def _position(digits: str) -> int:
    """A byte position from a ``Range`` header; one past any file when absurdly long.

    ``int()`` refuses more than 4300 digits, and no file has a 20-digit size.
    """
    return int(digits) if len(digits.lstrip("0")) <= 19 else 10**19


def requested_range(range_header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks for, or None to send the whole file.

    Follows RFC 9110: a header that does not parse, asks for several ranges or uses another unit
    is ignored (the whole file is sent); ``bytes=N-``, ``bytes=N-M`` and ``bytes=-K`` (the last K)
    are served; a range starting past the end raises :class:`RangeNotSatisfiable`.
    """
    if not range_header:
        return None
    match = _RANGE_RE.fullmatch(range_header.replace(" ", ""))
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # a suffix: the last K bytes
        suffix = _position(match[2])
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - suffix), size - 1
    first = _position(match[1])
    last = _position(match[2]) if match[2] else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(size)
    return first, size - 1 if last is None else min(last, size - 1)


def _etag(sha256: str) -> str:
    return f'"{sha256}"'


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput(f"Content-Length {raw!r} is not a byte count")
    return int(raw)


async def _receive_into(request: Request, upload: Upload) -> None:
    """Stream the request body into ``upload`` in batches written by a worker thread."""

    def write_all(pieces: list[bytes]) -> None:
        for piece in pieces:
            upload.write(piece)

    pieces: list[bytes] = []
    pending = 0
    async for chunk in request.stream():
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


async def put_blob(request: Request) -> Response:
    """Store a file streamed in the request body under its SHA-256."""
    service = service_of(request)
    caller = caller_of(request)
    sha256 = validate_digest(request.path_params["sha256"])
    declared = _declared_length(request)
    if declared is None:
        error = InvalidInput("Content-Length is required: send the file with its size")
        return error_response(error, 411)
    upload = await run(service.begin_upload, caller, sha256, declared)
    try:
        await _receive_into(request, upload)
        info = await run(service.finish_upload, caller, upload)
    except ClientDisconnect:
        raise InvalidInput(
            f"upload of {sha256} was cut off after {upload.received} of {declared} bytes"
        ) from None
    finally:
        upload.abort()  # a no-op once committed; otherwise nothing is left behind
    return json_response(info, 201 if info.created else 200)


async def head_blob(request: Request) -> Response:
    """A file's size and ETag, without its bytes."""
    sha256 = validate_digest(request.path_params["sha256"])
    info = await run(service_of(request).blob_info, caller_of(request), sha256)
    return Response(
        status_code=200,
        media_type=OCTET_STREAM,
        headers={
            "content-length": str(info.size),
            "etag": _etag(sha256),
            "accept-ranges": "bytes",
        },
    )


async def get_blob(request: Request) -> Response:
    """A file's bytes, whole or the one range asked for, streamed."""
    service = service_of(request)
    caller = caller_of(request)
    sha256 = validate_digest(request.path_params["sha256"])
    headers = {"etag": _etag(sha256), "accept-ranges": "bytes"}
    if_range = request.headers.get("if-range")
    range_header = request.headers.get("range")
    if if_range is not None and if_range != _etag(sha256):
        range_header = None  # the client holds other bytes: start over

    def open_reader() -> tuple[BlobReader, bool]:
        size = service.blob_info(caller, sha256).size
        span = requested_range(range_header, size)
        start, end = span if span is not None else (0, None)
        return service.open_blob(caller, sha256, start, end), span is not None

    try:
        reader, partial = await run(open_reader)
    except RangeNotSatisfiable as exc:
        error = InvalidInput(f"range {range_header!r} is past the end of {sha256}")
        return error_response(error, 416, {**headers, "content-range": f"bytes */{exc.size}"})
    headers["content-length"] = str(reader.length)
    if partial:
        headers["content-range"] = f"bytes {reader.start}-{reader.last}/{reader.size}"
    return BlobResponse(reader, 206 if partial else 200, headers)


BLOB_PATH: Final = BLOBS_PREFIX + "/{sha256}"
ROUTES: Final[list[BaseRoute]] = [
    # HEAD first: the GET route below would answer HEAD too, by reading the file.
    Route(BLOB_PATH, head_blob, methods=["HEAD"]),
    Route(BLOB_PATH, get_blob, methods=["GET"]),
    Route(BLOB_PATH, put_blob, methods=["PUT"]),
]

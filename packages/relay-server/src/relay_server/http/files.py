"""The file routes: ``PUT``, ``HEAD`` and ``GET /blobs/{sha256}`` (see docs/http-api.md).

The service does the transfers (:mod:`relay_server.service.files`): an upload's body is handed
to :meth:`~relay_server.service.RelayService.receive_file` as it arrives, and a download is the
chunks of the :class:`~relay_server.service.files.Download` that
:meth:`~relay_server.service.RelayService.open_download` opens, iterated in a worker thread. These
routes only read headers and shape answers. The caller comes from the auth middleware like on
every route, and errors (411 and 416 included) are answered by :mod:`relay_server.http.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

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
from relay_server.service.files import BodyCutOff, Chunks, RangeNotSatisfiable, entity_tag

OCTET_STREAM: Final = "application/octet-stream"


class BlobResponse(StreamingResponse):
    """A blob's bytes, with its file closed however the response ends.

    The chunks close the file when iterated to the end or stopped early, but a response that
    fails or is cancelled before its body starts (the client went away) never iterates them.
    """

    def __init__(self, chunks: Chunks, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(chunks, status_code=status_code, headers=headers, media_type=OCTET_STREAM)
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.chunks.close()


def _file_headers(sha256: str) -> dict[str, str]:
    """What every answer about a file's bytes says about them."""
    return {"etag": entity_tag(sha256), "accept-ranges": "bytes"}


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput(f"Content-Length {raw!r} is not a byte count")
    return int(raw)


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that goes away mid-way is a cut-off body."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise BodyCutOff from None


async def put_blob(request: Request) -> Response:
    """Store a file streamed in the request body under its SHA-256."""
    sha256 = validate_digest(request.path_params["sha256"])
    declared = _declared_length(request)
    service = service_of(request)
    info = await service.receive_file(caller_of(request), sha256, declared, _body(request))
    return json_response(info, 201 if info.created else 200)


async def head_blob(request: Request) -> Response:
    """A file's size and ETag, without its bytes."""
    sha256 = validate_digest(request.path_params["sha256"])
    info = await run(service_of(request).blob_info, caller_of(request), sha256)
    headers = {"content-length": str(info.size), **_file_headers(sha256)}
    return Response(status_code=200, media_type=OCTET_STREAM, headers=headers)


async def get_blob(request: Request) -> Response:
    """A file's bytes, whole or the one range asked for, streamed."""
    sha256 = validate_digest(request.path_params["sha256"])
    open_download = service_of(request).open_download
    range_header, if_range = request.headers.get("range"), request.headers.get("if-range")
    try:
        download = await run(open_download, caller_of(request), sha256, range_header, if_range)
    except RangeNotSatisfiable as exc:
        # The error table answers 416 with the size; the file's own headers go on it too.
        return error_response(exc, headers=_file_headers(sha256))
    headers = {**_file_headers(sha256), "content-length": str(download.length)}
    if download.partial:
        headers["content-range"] = f"bytes {download.first}-{download.last}/{download.size}"
    return BlobResponse(download.chunks, 206 if download.partial else 200, headers)


BLOB_PATH: Final = BLOBS_PREFIX + "/{sha256}"
ROUTES: Final[list[BaseRoute]] = [
    # HEAD first: the GET route below would answer HEAD too, by reading the file.
    Route(BLOB_PATH, head_blob, methods=["HEAD"]),
    Route(BLOB_PATH, get_blob, methods=["GET"]),
    Route(BLOB_PATH, put_blob, methods=["PUT"]),
]

"""File tools: ``upload_file`` and ``download_file`` carry small files inline as base64;
``blob_url`` says where to stream one of any size over HTTP."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastmcp.server.dependencies import get_http_request
from pydantic import Field

from relay_core import InvalidInput, RelayModel, TooLarge
from relay_core.models import AttachmentRef
from relay_core.wire import blob_path
from relay_server.mcp.context import current_caller, relay_service

DigestArg = Annotated[str, Field(description="SHA-256 (64 lowercase hex) of the file.")]


class UploadedFile(RelayModel):
    """A file stored by ``upload_file``."""

    sha256: str = Field(description="SHA-256 (hex) of the bytes.")
    size: int = Field(description="Size in bytes.")
    created: bool = Field(description="False when the relay already had these bytes.")
    attachment: AttachmentRef = Field(
        description="Pass this in send_message(attachments=[...]) to attach the file."
    )


class FileContent(RelayModel):
    """A file's bytes, carried inline as base64."""

    sha256: str = Field(description="SHA-256 (hex) of the bytes.")
    size: int = Field(description="Size in bytes.")
    content_base64: str = Field(description="The bytes, base64-encoded.")


class BlobLocation(RelayModel):
    """Where to download a file over plain HTTP."""

    sha256: str = Field(description="SHA-256 (hex) of the bytes.")
    size: int = Field(description="Size in bytes.")
    url: str = Field(description="GET it with your Authorization and X-Client-Id headers.")
    resume: str = Field(description="How to continue an interrupted download.")


def decode_base64(text: str, limit: int) -> bytes:
    """Decode tool input as strict base64, refusing more than ``limit`` bytes before decoding."""
    if len(text) // 4 * 3 > limit + 2:
        raise TooLarge(
            f"content is over the {limit}-byte inline limit: upload it with "
            "`agent-relay send-file` (PUT /blobs/{sha256}) instead"
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("content_base64 is not valid base64") from None


def upload_file(
    filename: Annotated[str, Field(description="File name readers will see; no folders.")],
    content_base64: Annotated[str, Field(description="The file's bytes, base64-encoded.")],
    mime: Annotated[str | None, Field(description="Media type, e.g. 'text/plain'.")] = None,
) -> UploadedFile:
    """Store a small file on the relay; returns the attachment to pass to send_message.

    Files over the relay's inline limit (relay_status: limits.inline_file_bytes) are
    `too_large`: send those with the agent-relay command line.
    """
    # Name and media type are checked before anything is stored; the digest is the one
    # put_blob computes, so the tool does not hash the bytes a second time.
    service = relay_service()
    unnamed = AttachmentRef.parse({"sha256": "0" * 64, "filename": filename, "mime": mime})
    data = decode_base64(content_base64, service.limits.inline_file_bytes)
    info = service.put_blob(current_caller(), data)
    ref = unnamed.model_copy(update={"sha256": info.sha256})
    return UploadedFile(sha256=info.sha256, size=info.size, created=info.created, attachment=ref)


def download_file(sha256: DigestArg) -> FileContent:
    """A file attached to a message you can read (or that you uploaded), inline as base64.

    Files over the inline limit are `too_large`: use blob_url and download them over HTTP.
    """
    data = relay_service().read_blob(current_caller(), sha256)
    return FileContent(
        sha256=sha256, size=len(data), content_base64=base64.b64encode(data).decode()
    )


def blob_url(sha256: DigestArg) -> BlobLocation:
    """Where to download a file of any size over HTTP, streamed and resumable."""
    caller = current_caller()
    info = relay_service().blob_info(caller, sha256)
    base = str(get_http_request().base_url).rstrip("/")
    return BlobLocation(
        sha256=sha256,
        size=info.size,
        url=base + blob_path(sha256),
        resume="send 'Range: bytes=N-' to get the bytes from offset N on (206)",
    )

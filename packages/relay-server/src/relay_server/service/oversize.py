"""Oversize text: a message text over the inline limit travels as a text attachment.

A text over :data:`~relay_core.wire.MAX_TEXT_BYTES` is never cut and never refused for its size
alone: its bytes go to the content-addressed blob store as ``message.txt`` (the sender counts as
its uploader), and the message carries the text's first :data:`EXCERPT_BYTES` and a note saying
where the whole is. The hard bound is the relay's inline upload limit (``inline_file_bytes``,
8 MiB by default), past which a text must be sent as a file.
"""

from __future__ import annotations

from functools import partial
from typing import Final

from relay_core import AttachmentRef, SendMessageRequest, TooLarge, Unavailable
from relay_core.wire import MAX_TEXT_BYTES
from relay_server.service.base import ServiceBase
from relay_server.storage import files

EXCERPT_BYTES: Final = 4096
"""How much of an oversize text the message itself carries (UTF-8, cut between characters)."""
TEXT_FILENAME: Final = "message.txt"
TEXT_MIME: Final = "text/plain; charset=utf-8"


def is_oversize(request: SendMessageRequest) -> bool:
    """Whether the request's text is over the inline limit (checked without encoding a short
    one: a character is at most 4 bytes of UTF-8)."""
    text = request.text
    return len(text) * 4 > MAX_TEXT_BYTES and len(text.encode("utf-8")) > MAX_TEXT_BYTES


def spill_oversize(
    service: ServiceBase, caller: str, request: SendMessageRequest, stamp: int
) -> SendMessageRequest:
    """``request`` itself, or, when its text is over the inline limit, the same request with the
    text stored as an attachment and an excerpt in its place.

    Raises:
        TooLarge: the text is over the relay's inline upload limit.
        Unavailable: the relay has no file store to keep the text in.
    """
    data = request.text.encode("utf-8")
    if len(data) <= MAX_TEXT_BYTES:
        return request
    limit = service.limits.inline_file_bytes
    if len(data) > limit:
        raise TooLarge(
            f"text is {len(data)} bytes; this relay carries at most {limit} bytes of text in a"
            " message: send it as a file (agent-relay send-file)"
        )
    if service.blobs is None:
        raise Unavailable(f"a text over {MAX_TEXT_BYTES} bytes needs the relay's file store")
    sha256, _ = service.blobs.add_bytes(data, owner=caller)
    service.storage.write(partial(files.record_upload, caller, sha256, stamp))
    excerpt = data[:EXCERPT_BYTES].decode("utf-8", errors="ignore")  # drops a cut character
    note = (
        f"\n[excerpt: {len(excerpt):,} of {len(request.text):,} characters; the whole text"
        f" ({len(data):,} bytes) is attached as {TEXT_FILENAME}]"
    )
    whole = AttachmentRef(sha256=sha256, filename=TEXT_FILENAME, mime=TEXT_MIME)
    return request.model_copy(
        update={"text": excerpt + note, "attachments": [*request.attachments, whole]}
    )

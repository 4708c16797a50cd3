"""Files: who uploaded which blob, and whether a blob is referenced or readable by a caller.

Plain functions over the models; they run inside whatever transaction the caller opened. The
blobs themselves are files in the blob store; this is what the database knows of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from relay_core import now_ms
from relay_server.storage.clients import ensure_clients
from relay_server.storage.messages import visible_in_sessions
from relay_server.storage.models import Attachment, Message, Upload


def record_upload(caller: str, sha256: str, stamp: int) -> None:
    """Record that ``caller`` uploaded the blob (again) at ``stamp``."""
    ensure_clients([caller], stamp)
    Upload.insert(sha256=sha256, uploader=caller, created_ms=stamp).on_conflict(
        conflict_target=[Upload.sha256, Upload.uploader],
        update={Upload.created_ms: stamp},
    ).execute()


def forget_uploads(digests: Iterable[str]) -> None:
    """Drop the upload records of blobs that are gone."""
    Upload.delete().where(Upload.sha256.in_(list(digests))).execute()


def may_read_blob(caller: str, sha256: str) -> bool:
    """True when the caller uploaded the file or can read a message that has it attached."""
    uploaded = Upload.select().where((Upload.sha256 == sha256) & (Upload.uploader == caller))
    if uploaded.exists():
        return True
    attached = (
        visible_in_sessions(caller)
        .switch(Message)
        .join(Attachment, on=(Attachment.message == Message.id))
        .where(Attachment.sha256 == sha256)
    )
    found: bool = attached.exists()
    return found


def blob_referenced(sha256: str, now: int | None = None) -> bool:
    """True when a message that has not expired at ``now`` (ms; default: the clock) has the
    blob attached."""
    at = now_ms() if now is None else now
    live = (Message.expires_ms.is_null()) | (Message.expires_ms > at)
    found: bool = (
        Attachment.select(Attachment.id)
        .join(Message, on=(Message.id == Attachment.message))
        .where((Attachment.sha256 == sha256) & live)
        .exists()
    )
    return found

"""The shapes agent-relay exchanges: what clients send (requests) and what the relay answers.

Two bases keep one convention each:

- :class:`RequestModel` refuses unknown fields, so a typo in a request is an error, not a no-op.
- :class:`RelayModel` ignores unknown fields, so an older client can read a newer relay's answers.

Every field has a description: FastMCP turns them into the tool schemas agents read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from relay_core.blobs import Digest
from relay_core.errors import InvalidInput, RelayError, describe_validation_error
from relay_core.names import Address, ClientId, ClientIdentity, FileName, RoleName, SessionName
from relay_core.timestamps import Timestamp
from relay_core.wire import (
    MAX_ATTACHMENTS,
    MAX_DEADLINE_S,
    MAX_DESCRIPTION_CHARS,
    MAX_MESSAGE_ID,
    MAX_MIME_CHARS,
    MAX_PARTICIPANTS,
    MAX_RECIPIENTS,
    MAX_SENT_TEXT_BYTES,
)

AuthMode = Literal["open", "shared", "per-client"]
Presence = Literal["live", "online", "offline"]
"""live: an open MCP stream to the relay; online: seen in the last minute; else offline."""


class RelayModel(BaseModel):
    """Base of every answer: immutable, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def parse_answer(cls, data: Any) -> Self:
        """Validate an answer that came from a relay.

        Raises:
            RelayError: (code ``internal``) the answer does not have this shape.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problem = describe_validation_error(exc)
            raise RelayError(f"unexpected answer from the relay: {problem}") from None


class RequestModel(BaseModel):
    """Base of every request body: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def parse(cls, data: Any) -> Self:
        """Validate untrusted input.

        Raises:
            InvalidInput: naming each bad field and why (a ValidationError anywhere else is a
                bug, not bad input, and adapters report it as internal).
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(describe_validation_error(exc)) from None


def _check_text(text: str) -> str:
    size = len(text.encode("utf-8"))
    if size > MAX_SENT_TEXT_BYTES:
        raise ValueError(
            f"text is {size} bytes; the limit is {MAX_SENT_TEXT_BYTES} bytes (UTF-8): send it"
            " as a file"
        )
    return text


MessageText = Annotated[str, AfterValidator(_check_text)]


def _check_unique(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} lists {value!r} more than once")
        seen.add(value)
    return values


# --- files ----------------------------------------------------------------------------------


class AttachmentRef(RequestModel):
    """A file already uploaded to the relay, to attach to a new message."""

    sha256: Digest = Field(description="SHA-256 (hex) of the uploaded file.")
    filename: FileName = Field(description="File name shown to readers; no directories.")
    mime: str | None = Field(
        default=None, max_length=MAX_MIME_CHARS, description="Media type, e.g. 'text/plain'."
    )


class Attachment(RelayModel):
    """A file attached to a message."""

    sha256: Digest = Field(description="SHA-256 (hex) of the file; download it by this digest.")
    filename: str = Field(description="File name given by the sender.")
    size: int = Field(ge=0, description="Size in bytes.")
    mime: str | None = Field(default=None, description="Media type, if the sender gave one.")


class BlobInfo(RelayModel):
    """A file in the relay's store."""

    sha256: Digest = Field(description="SHA-256 (hex) of the file's bytes.")
    size: int = Field(ge=0, description="Size in bytes.")
    created: bool = Field(default=False, description="True when this upload stored new bytes.")


# --- messages -------------------------------------------------------------------------------


class Message(RelayModel):
    """One message in a session."""

    id: int = Field(description="Global, increasing id; order within a session is id order.")
    session: SessionName = Field(description="The session it was sent to.")
    sender: ClientId = Field(description="Client id of the sender (set by the relay).")
    to: list[Address] = Field(
        default_factory=list,
        description="Recipients (client ids and @roles); empty means every participant.",
    )
    reply_to: int | None = Field(default=None, description="Id of the message this answers.")
    text: str = Field(description="The message text.")
    attachments: list[Attachment] = Field(default_factory=list, description="Attached files.")
    created_at: Timestamp = Field(description="When the relay stored it (UTC).")


class SendMessageRequest(RequestModel):
    """A new message; the sender is always the authenticated caller."""

    text: MessageText = Field(
        description="The message text; over 64 KiB of UTF-8 it is stored as a text attachment."
    )
    to: list[Address] = Field(
        default_factory=list,
        max_length=MAX_RECIPIENTS,
        description=(
            "Deliver only to these participants (client ids, or @role for whoever holds the role"
            " when it is read); empty sends to everyone."
        ),
    )
    reply_to: int | None = Field(
        default=None, ge=1, le=MAX_MESSAGE_ID, description="Id of the message this answers."
    )
    attachments: list[AttachmentRef] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS, description="Uploaded files to attach."
    )
    reply_by_s: float | None = Field(
        default=None, gt=0, le=MAX_DEADLINE_S, description="Bounce to the sender if unread by then."
    )
    ttl_s: float | None = Field(
        default=None, gt=0, le=MAX_DEADLINE_S, description="Expire (unread) after this long."
    )

    @field_validator("to")
    @classmethod
    def _unique_recipients(cls, value: list[str]) -> list[str]:
        return _check_unique(value, "to")

    def stored(
        self,
        message_id: int,
        session: str,
        sender: str,
        attachments: list[Attachment],
        created_at: datetime,
    ) -> Message:
        """The message this request became once the relay stored it."""
        return Message(
            id=message_id,
            session=session,
            sender=sender,
            to=sorted(self.to),
            reply_to=self.reply_to,
            text=self.text,
            attachments=attachments,
            created_at=created_at,
        )


class SentMessage(RelayModel):
    """The receipt of a stored message."""

    id: int = Field(description="The new message's id.")
    session: SessionName = Field(description="The session it was sent to.")
    created_at: Timestamp = Field(description="When the relay stored it (UTC).")
    held_for: list[RoleName] = Field(
        default_factory=list,
        description="Roles it was addressed to that nobody holds: the next holder gets it.",
    )
    offline: list[ClientId] = Field(
        default_factory=list,
        description="Recipients offline now (not seen in the last minute): it waits for them.",
    )


class MessagePage(RelayModel):
    """A page of messages in id order, and where to continue."""

    messages: list[Message] = Field(description="The messages, oldest first.")
    next_after_id: int | None = Field(
        description="Pass as after_id to get the next page (the last id here, or the one given)."
    )
    has_more: bool = Field(description="True when more messages are already waiting.")
    timed_out: bool = Field(
        default=False, description="For waits: true when nothing arrived before the timeout."
    )


class MarkReadRequest(RequestModel):
    """Move the caller's read position in a session forward."""

    up_to_id: int = Field(
        ge=0, le=MAX_MESSAGE_ID, description="Every message up to this id counts as read."
    )


class ReadPosition(RelayModel):
    """A participant's read position after a change."""

    session: SessionName = Field(description="The session.")
    last_read_id: int = Field(description="Messages up to this id count as read.")
    unread: int = Field(description="Messages for the caller after that position.")


# --- sessions -------------------------------------------------------------------------------


class CreateSessionRequest(RequestModel):
    """A new named session; its creator always becomes a participant."""

    name: SessionName = Field(description="Session name: lowercase letters, digits, '-', '_', '.'.")
    participants: list[ClientIdentity] = Field(
        default_factory=list,
        max_length=MAX_PARTICIPANTS,
        description="Client ids to add besides the creator.",
    )
    description: str = Field(
        default="", max_length=MAX_DESCRIPTION_CHARS, description="What the session is for."
    )

    @field_validator("participants")
    @classmethod
    def _unique_participants(cls, value: list[str]) -> list[str]:
        return _check_unique(value, "participants")


class InviteRequest(RequestModel):
    """Add participants to a session."""

    clients: list[ClientIdentity] = Field(
        min_length=1, max_length=MAX_PARTICIPANTS, description="Client ids to add."
    )

    @field_validator("clients")
    @classmethod
    def _unique_clients(cls, value: list[str]) -> list[str]:
        return _check_unique(value, "clients")


class Participant(RelayModel):
    """A member of a session."""

    client_id: ClientId = Field(description="The participant's client id.")
    joined_at: Timestamp = Field(description="When it joined (UTC).")
    last_seen: Timestamp | None = Field(description="Its last call to the relay (UTC).")
    last_read_id: int = Field(description="Its read position: messages up to this id are read.")


class SessionSummary(RelayModel):
    """One row of the caller's session list."""

    name: SessionName = Field(description="Session name.")
    description: str = Field(description="What the session is for.")
    created_by: ClientId = Field(description="Who created it.")
    created_at: Timestamp = Field(description="When it was created (UTC).")
    closed_at: Timestamp | None = Field(description="When it was closed, or null while open.")
    participants: int = Field(description="How many participants it has.")
    last_message_id: int | None = Field(description="Id of its newest message, if any.")
    unread: int = Field(description="Messages for the caller after its read position.")


class SessionDetail(RelayModel):
    """A session with its participants."""

    name: SessionName = Field(description="Session name.")
    description: str = Field(description="What the session is for.")
    created_by: ClientId = Field(description="Who created it.")
    created_at: Timestamp = Field(description="When it was created (UTC).")
    closed_at: Timestamp | None = Field(description="When it was closed, or null while open.")
    participants: list[Participant] = Field(description="Its members.")
    last_message_id: int | None = Field(description="Id of its newest message, if any.")
    unread: int = Field(description="Messages for the caller after its read position.")
    roles: dict[RoleName, ClientId] = Field(
        default_factory=dict, description="Who holds which role (role -> client id)."
    )


class RoleClaim(RelayModel):
    """Who holds a role of a session now, and what reached the role while nobody held it."""

    session: SessionName = Field(description="The session.")
    role: RoleName = Field(description="The role (without the @).")
    holder: ClientId | None = Field(description="Who holds it now; null once released.")
    previous: ClientId | None = Field(description="Who held it before, if anyone.")
    held: list[int] = Field(
        default_factory=list,
        description="Ids of messages sent to the role while nobody held it, now the holder's.",
    )


# --- clients and the relay ------------------------------------------------------------------


class Peer(RelayModel):
    """Another client the relay has seen, from the caller's point of view."""

    client_id: ClientId = Field(description="The peer's client id.")
    first_seen: Timestamp | None = Field(
        description="Its first call to the relay (UTC); null if invited but never seen."
    )
    last_seen: Timestamp | None = Field(description="Its last call to the relay (UTC).")
    shared_sessions: list[SessionName] = Field(description="Sessions the caller shares with it.")
    presence: Presence = Field(
        default="offline",
        description="live (an open MCP stream), online (seen in the last minute) or offline.",
    )


class WhoAmI(RelayModel):
    """The caller as the relay sees it."""

    client_id: ClientId = Field(description="The caller's client id.")
    auth_mode: AuthMode = Field(description="How the relay authenticates: open/shared/per-client.")
    first_seen: Timestamp = Field(description="The caller's first call (UTC).")
    last_seen: Timestamp = Field(description="The caller's latest call (UTC).")


class Health(RelayModel):
    """The unauthenticated liveness answer of ``GET /healthz``."""

    status: Literal["ok"] = Field(description="Always 'ok' when the relay answers.")
    version: str = Field(description="The relay's version.")
    uptime_s: float = Field(description="Seconds since the relay started.")


class StatusCounts(RelayModel):
    """How much the relay holds."""

    clients: int = Field(description="Clients ever seen.")
    sessions: int = Field(description="Sessions, open and closed.")
    messages: int = Field(description="Messages stored.")
    blobs: int = Field(description="Files in the store.")
    blob_bytes: int = Field(description="Bytes in the store.")


class StatusLimits(RelayModel):
    """The relay's limits, so clients can check before they send."""

    max_text_bytes: int = Field(description="Largest message text, UTF-8 bytes.")
    max_blob_bytes: int = Field(description="Largest file.")
    blob_quota_bytes: int = Field(description="Total bytes the file store may hold.")
    inline_file_bytes: int = Field(description="Largest file the MCP upload/download tools move.")
    max_page_size: int = Field(description="Most messages one read returns.")
    max_wait_s: float = Field(description="Longest wait a long-poll may ask for.")


class Status(RelayModel):
    """The relay's state and the caller's place in it."""

    version: str = Field(description="The relay's version.")
    uptime_s: float = Field(description="Seconds since the relay started.")
    caller: ClientId = Field(description="The caller's client id.")
    auth_mode: AuthMode = Field(description="How the relay authenticates.")
    counts: StatusCounts = Field(description="How much the relay holds.")
    limits: StatusLimits = Field(description="The relay's limits.")
    unread: int = Field(description="Messages waiting for the caller across its sessions.")

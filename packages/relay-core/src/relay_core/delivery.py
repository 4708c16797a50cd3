"""Delivery states: what became of a message for each of its recipients.

A message is *stored* for a recipient until the relay hands it over (*delivered*: pushed to a
live connection, or returned by a read or a wait), and *read* once the recipient marks it read
(``mark_read``, or a read that marks read). Only its sender sees every recipient's state; a
recipient sees its own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from relay_core.models import RelayModel
from relay_core.names import ClientId, SessionName
from relay_core.timestamps import Timestamp

DeliveryState = Literal["stored", "delivered", "read"]
"""stored: on the relay, not handed over yet; delivered: handed over; read: marked read."""


class RecipientStatus(RelayModel):
    """One recipient's state of a message, with when it changed."""

    client_id: ClientId = Field(description="The recipient.")
    state: DeliveryState = Field(description="stored, delivered or read.")
    delivered_at: Timestamp | None = Field(
        default=None, description="When the relay first handed it over (UTC)."
    )
    read_at: Timestamp | None = Field(
        default=None, description="When it was marked read (UTC); unknown for old messages."
    )


class MessageStatus(RelayModel):
    """A message's delivery state for each recipient."""

    id: int = Field(description="The message's id.")
    session: SessionName = Field(description="The session it was sent to.")
    sender: ClientId = Field(description="Who sent it.")
    created_at: Timestamp = Field(description="When the relay stored it (UTC).")
    reply_by: Timestamp | None = Field(
        default=None, description="When its sender is told who has not read it (UTC)."
    )
    expires_at: Timestamp | None = Field(
        default=None, description="When it is no longer shown to those who did not read it."
    )
    recipients: list[RecipientStatus] = Field(
        description="Each recipient's state (only your own, unless you sent it)."
    )

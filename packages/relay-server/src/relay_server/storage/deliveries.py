"""Delivery states: when each recipient was handed a message and read it; deadlines due.

Plain functions over the models; they run inside whatever transaction the caller opened. A
send writes no delivery row: a row appears the first time a recipient is handed the message
(one statement per page read, wait or batch of pushes) and gets its read time when the
recipient's read position moves past it. Deadlines (reply-by, expiry) are columns of the
message; ``due_ms`` is the next one still to act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, cast

from peewee import EXCLUDED, Value, fn

from relay_server.storage.messages import visible_to
from relay_server.storage.models import (
    Delivery,
    Message,
    MessageRole,
    Participant,
    Recipient,
    RoleHolder,
    dialect,
)


def mark_delivered(handed: Iterable[tuple[str, int, int]]) -> None:
    """Record (client, message id, milliseconds) handovers where not yet recorded (the first
    time of a pair counts): one statement for all of them."""
    first: dict[tuple[str, int], int] = {}
    for client, message_id, stamp in handed:
        first.setdefault((client, message_id), stamp)
    rows = [
        {Delivery.message: message_id, Delivery.client_id: client, Delivery.delivered_ms: stamp}
        for (client, message_id), stamp in first.items()
    ]
    if rows:
        Delivery.insert_many(rows).on_conflict_ignore().execute()


def mark_read(session_id: int, caller: str, after_id: int, up_to_id: int, stamp: int) -> None:
    """Record as read at ``stamp`` the messages from others in (``after_id``, ``up_to_id``] of a
    session that the caller may read now (delivered then too, if they were not): one statement.
    """
    unread = (
        visible_to(caller, stamp)
        .select(Message.id, Value(caller), Value(stamp), Value(stamp))
        .where(
            (Message.session == session_id)
            & (Message.id > after_id)
            & (Message.id <= up_to_id)
            & (Message.sender != caller)
        )
    )
    fields = [Delivery.message, Delivery.client_id, Delivery.delivered_ms, Delivery.read_ms]
    Delivery.insert_from(unread, fields).on_conflict(
        conflict_target=[Delivery.message, Delivery.client_id],
        update={Delivery.read_ms: EXCLUDED.read_ms},
        where=Delivery.read_ms.is_null(),
    ).execute()


class Handover(NamedTuple):
    """One recipient's delivery row: when it was handed the message, and when it read it."""

    delivered_ms: int
    read_ms: int | None


def handovers(message_id: int) -> dict[str, Handover]:
    """Client id -> its delivery row, for one message."""
    rows = Delivery.select(Delivery.client_id, Delivery.delivered_ms, Delivery.read_ms).where(
        Delivery.message == message_id
    )
    return {
        client: Handover(delivered, read)
        for client, delivered, read in cast("Iterable[tuple[str, int, int | None]]", rows.tuples())
    }


def recipients(message: Message) -> list[str]:
    """Who the message is for, now: its listed recipients and the holders of the roles it was
    sent to, or, when it went to everyone, every participant but its sender; sorted."""
    if not message.narrowed:
        members = Participant.select(Participant.client).where(
            (Participant.session == message.session_id) & (Participant.client != message.sender_id)
        )
        return sorted(row[0] for row in cast("Iterable[tuple[str]]", members.tuples()))
    listed = Recipient.select(Recipient.client).where(Recipient.message == message.id)
    roles = MessageRole.select(MessageRole.role).where(MessageRole.message == message.id)
    holding = RoleHolder.select(RoleHolder.holder).where(
        (RoleHolder.session == message.session_id) & RoleHolder.role.in_(roles)
    )
    found = {row[0] for row in cast("Iterable[tuple[str]]", listed.tuples())}
    found |= {row[0] for row in cast("Iterable[tuple[str]]", holding.tuples())}
    return sorted(found)


def read_positions(session_id: int, clients: Sequence[str]) -> dict[str, int]:
    """Client id -> its read position in the session, for those of ``clients`` in it."""
    if not clients:
        return {}
    rows = Participant.select(Participant.client, Participant.last_read_id).where(
        (Participant.session == session_id) & dialect().in_list(Participant.client, clients)
    )
    return dict(cast("Iterable[tuple[str, int]]", rows.tuples()))


def message_row(message_id: int) -> Message | None:
    """The message row, whoever may read it."""
    found: Message | None = Message.get_or_none(Message.id == message_id)
    return found


def next_due() -> int | None:
    """The earliest deadline of any message still to act on (ms), if any."""
    due: int | None = (
        Message.select(fn.MIN(Message.due_ms)).where(Message.due_ms.is_null(False)).scalar()
    )
    return due


def due_messages(now: int) -> list[Message]:
    """Messages with a deadline at or before ``now`` still to act on, oldest deadline first."""
    return list(
        Message.select()
        .where(Message.due_ms.is_null(False) & (Message.due_ms <= now))
        .order_by(Message.due_ms, Message.id)
    )


def move_due(message_id: int, was: int, then: int | None) -> bool:
    """Move a message's next deadline from ``was`` to ``then`` (None: no more); False when
    another writer moved it first (so each deadline is acted on once)."""
    changed: int = (
        Message.update(due_ms=then)
        .where((Message.id == message_id) & (Message.due_ms == was))
        .execute()
    )
    return changed == 1

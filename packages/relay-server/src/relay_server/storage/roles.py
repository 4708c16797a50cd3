"""Roles of a session: claiming and releasing them, and the messages addressed to them.

A message addressed to ``@reviewer`` is readable by whoever holds ``reviewer`` in its session at
the moment it is read (see ``visible_to`` in :mod:`.messages`); a role nobody held when the
message was sent marks it ``held`` until the next holder claims the role.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from relay_server.storage.models import Message, MessageRole, RoleHolder, dialect


def holders(session_id: int) -> dict[str, str]:
    """Role -> holder's client id, for one session."""
    rows = RoleHolder.select(RoleHolder.role, RoleHolder.holder).where(
        RoleHolder.session == session_id
    )
    return dict(cast("Iterable[tuple[str, str]]", rows.tuples()))


def holder(session_id: int, role: str) -> str | None:
    """Who holds ``role`` in the session, if anyone."""
    row: RoleHolder | None = RoleHolder.get_or_none(
        (RoleHolder.session == session_id) & (RoleHolder.role == role)
    )
    return None if row is None else row.holder_id


def claim(session_id: int, role: str, client_id: str, stamp: int) -> list[int]:
    """Make ``client_id`` the holder (replacing any); the ids of the messages that were held
    for the role, which are now delivered to it."""
    RoleHolder.insert(
        session=session_id, role=role, holder=client_id, claimed_ms=stamp
    ).on_conflict(
        conflict_target=[RoleHolder.session, RoleHolder.role],
        update={RoleHolder.holder: client_id, RoleHolder.claimed_ms: stamp},
    ).execute()
    in_session = Message.select(Message.id).where(Message.session == session_id)
    waiting = (MessageRole.role == role) & MessageRole.held & MessageRole.message.in_(in_session)
    rows = MessageRole.select(MessageRole.message).where(waiting).tuples()
    ids = sorted(row[0] for row in cast("Iterable[tuple[int]]", rows))
    if ids:
        MessageRole.update(held=False).where(
            (MessageRole.role == role) & dialect().in_list(MessageRole.message, ids)
        ).execute()
    return ids


def release(session_id: int, role: str) -> None:
    """Nobody holds ``role`` any more."""
    RoleHolder.delete().where(
        (RoleHolder.session == session_id) & (RoleHolder.role == role)
    ).execute()


def release_all_of(session_id: int, client_id: str) -> None:
    """Every role ``client_id`` holds in the session is released (it left)."""
    RoleHolder.delete().where(
        (RoleHolder.session == session_id) & (RoleHolder.holder == client_id)
    ).execute()


def address(message_id: int, roles: Sequence[str], held: Iterable[str]) -> None:
    """Record the roles a message was sent to; ``held`` are those nobody holds now."""
    waiting = set(held)
    MessageRole.insert_many(
        [{"message": message_id, "role": role, "held": role in waiting} for role in roles]
    ).execute()


def addressed_roles(message_ids: Sequence[int]) -> dict[int, list[str]]:
    """Message id -> the roles it was addressed to, sorted."""
    if not message_ids:
        return {}
    rows = (
        MessageRole.select(MessageRole.message, MessageRole.role)
        .where(dialect().in_list(MessageRole.message, message_ids))
        .order_by(MessageRole.role)
        .tuples()
    )
    found: dict[int, list[str]] = {}
    for message_id, role in cast("Iterable[tuple[int, str]]", rows):
        found.setdefault(message_id, []).append(role)
    return found

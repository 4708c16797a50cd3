"""Sessions: finding them, their participants and read positions, and listing a caller's.

Plain functions over the models; they run inside whatever transaction the caller opened. The
counts of what a caller may read follow the visibility rule of :mod:`.messages`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypedDict, cast

from peewee import SQL, fn

from relay_core import (
    Conflict,
    Forbidden,
    NotFound,
    SessionSummary,
    from_ms,
    validate_session_name,
)
from relay_core import Participant as ParticipantInfo
from relay_server.storage import roster
from relay_server.storage.messages import readable_by
from relay_server.storage.models import Client, Message, Participant, Session, database
from relay_server.storage.prepared import Prepared
from relay_server.storage.roster import Roster


def session_row(name: str) -> Session:
    """The session row by name (validated), or NotFound."""
    validate_session_name(name)
    session = Session.get_or_none(Session.name == name)
    if session is None:
        raise NotFound(f"session {name!r} does not exist", details={"session": name})
    return session


def open_session_row(name: str) -> Session:
    """The session row, or Conflict when it is closed."""
    session = session_row(name)
    if session.closed_ms is not None:
        raise Conflict(f"session {name!r} is closed", details={"session": name})
    return session


def session_named(name: str) -> Session | None:
    """The session of that name, if there is one (the name is not validated)."""
    found: Session | None = Session.get_or_none(Session.name == name)
    return found


def membership(session: Session, caller: str) -> Participant:
    """The caller's participant row, or Forbidden."""
    membership = Participant.get_or_none(
        (Participant.session == session.id) & (Participant.client == caller)
    )
    if membership is None:
        raise _not_a_participant(session, caller)
    return membership


_READ_POSITION = Prepared(
    lambda session_id, caller: Participant.select(Participant.last_read_id).where(
        (Participant.session == session_id) & (Participant.client == caller)
    ),
    session_id=int,
    caller=str,
)


def read_position(session: Roster, caller: str) -> int:
    """The caller's read position in a session (its last read id), or Forbidden."""
    found = _READ_POSITION.rows(session_id=session.session_id, caller=caller)
    if not found:  # it left since the roster was read
        raise session.refusal(caller)
    position: int = found[0][0]
    return position


def _not_a_participant(session: Session, caller: str) -> Forbidden:
    return Forbidden(
        f"{caller!r} is not a participant of session {session.name!r}; "
        "ask a participant to invite you",
        details={"session": session.name},
    )


def participants(session_id: int) -> list[ParticipantInfo]:
    """A session's participants, in the order they joined."""
    rows = (
        Participant.select(Participant, Client)
        .join(Client)
        .where(Participant.session == session_id)
        .order_by(Participant.joined_ms, Participant.client)
    )
    return [
        ParticipantInfo(
            client_id=row.client_id,
            joined_at=from_ms(row.joined_ms),
            last_seen=from_ms(row.client.last_seen_ms) if row.client.last_seen_ms else None,
            last_read_id=row.last_read_id,
        )
        for row in rows
    ]


def add_session(name: str, description: str, created_by: str, stamp: int) -> int:
    """Create a session row; its id."""
    roster.changed()
    session = Session.create(
        name=name, description=description, created_by=created_by, created_ms=stamp
    )
    session_id: int = session.id
    return session_id


def add_participants(
    session_id: int, client_ids: Sequence[str], stamp: int, *, keep_existing: bool = False
) -> None:
    """Make clients participants of a session; with ``keep_existing``, members stay as they are
    (otherwise one already there is an IntegrityError)."""
    roster.changed()
    insert = Participant.insert_many(
        [{"session": session_id, "client": c, "joined_ms": stamp} for c in client_ids]
    )
    (insert.on_conflict_ignore() if keep_existing else insert).execute()


def remove_participant(session_id: int, client_id: str) -> None:
    """Take a client out of a session."""
    roster.changed()
    Participant.delete().where(
        (Participant.session == session_id) & (Participant.client == client_id)
    ).execute()


def close_session(session_id: int, stamp: int) -> None:
    """Mark a session closed at ``stamp``."""
    roster.changed()
    Session.update(closed_ms=stamp).where(Session.id == session_id).execute()


def advance_read(session_id: int, caller: str, up_to_id: int) -> None:
    """Move a read position forward (never backward)."""
    with database.atomic():  # a write: queue with the others (see sqlite.RelayDatabase)
        Participant.update(last_read_id=up_to_id).where(
            (Participant.session == session_id)
            & (Participant.client == caller)
            & (Participant.last_read_id < up_to_id)
        ).execute()


def count_sessions() -> int:
    """How many sessions the relay holds."""
    count: int = Session.select().count()
    return count


def session_summaries(caller: str, include_closed: bool, now: int) -> list[SessionSummary]:
    """The caller's sessions, newest first, each with its counts, in one statement.

    Each has its ``participants``, ``last_message_id`` (the newest message the caller may read)
    and ``unread`` (messages from others past the read position that the caller may read and
    that have not expired at ``now`` for it).
    Listing thousands of sessions is one query, not three a session.
    """
    message, others = Message.alias("m"), Participant.alias("p2")
    readable = (message.session == Session.id) & readable_by(caller, now, message)
    last_id = message.select(message.id).where(readable).order_by(message.id.desc()).limit(1)
    unread = message.select(fn.COUNT(message.id)).where(
        readable & (message.id > Participant.last_read_id) & (message.sender != caller)
    )
    participant_count = others.select(fn.COUNT(SQL("*"))).where(others.session == Session.id)
    query = (
        Session.select(
            Session,
            Participant.last_read_id,
            participant_count.alias("participants"),
            last_id.alias("last_id"),
            unread.alias("unread"),
        )
        .join(Participant)
        .where(Participant.client == caller)
        .order_by(Session.id.desc())
    )
    if not include_closed:
        query = query.where(Session.closed_ms.is_null())
    return [
        SessionSummary(
            name=row["name"],
            description=row["description"],
            created_by=row["created_by"],
            created_at=from_ms(row["created_ms"]),
            closed_at=from_ms(row["closed_ms"]) if row["closed_ms"] else None,
            participants=row["participants"],
            last_message_id=row["last_id"],
            unread=row["unread"] or 0,
        )
        for row in cast("Iterable[_SummaryRow]", query.dicts())
    ]


class _SummaryRow(TypedDict):
    """A row of :func:`session_summaries`' query (peewee's stubs type ``.dicts()`` rows as
    models)."""

    name: str
    description: str
    created_by: str
    created_ms: int
    closed_ms: int | None
    participants: int
    last_id: int | None
    unread: int | None

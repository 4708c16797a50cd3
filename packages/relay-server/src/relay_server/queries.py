"""Queries the use cases share: finding rows, visibility, counts and building answer models.

Plain functions over the Peewee models in :mod:`relay_server.db`; they run inside whatever
transaction the calling use case opened. Visibility lives here, in one place: a message with
recipients (``narrowed``) is visible only to its sender and those recipients.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from peewee import JOIN, SQL, Expression, Field, ModelSelect, fn

from relay_core import (
    Attachment,
    Conflict,
    Forbidden,
    Message,
    MessagePage,
    NotFound,
    from_ms,
    validate_session_name,
)
from relay_server import db as store


def ensure_clients(client_ids: Iterable[str], stamp: int) -> None:
    """Create client rows for ids the relay has not seen (invited before they connect)."""
    rows = [{"client_id": c, "created_ms": stamp} for c in dict.fromkeys(client_ids)]
    if rows:
        store.Client.insert_many(rows).on_conflict_ignore().execute()


def unregistered(client_ids: Iterable[str]) -> list[str]:
    """Those of ``client_ids`` that hold no per-client token on this relay, in the given order."""
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return []
    registered = {
        row.client_id
        for row in store.Client.select(store.Client.client_id).where(
            in_list(store.Client.client_id, wanted) & store.Client.token_hash.is_null(False)
        )
    }
    return [c for c in wanted if c not in registered]


def client_row(client_id: str) -> store.Client:
    """The client row, or NotFound."""
    row = store.Client.get_or_none(store.Client.client_id == client_id)
    if row is None:
        raise NotFound(f"client {client_id!r} is not known to this relay")
    return row


def session_row(name: str) -> store.Session:
    """The session row by name (validated), or NotFound."""
    validate_session_name(name)
    session = store.Session.get_or_none(store.Session.name == name)
    if session is None:
        raise NotFound(f"session {name!r} does not exist", details={"session": name})
    return session


def open_session_row(name: str) -> store.Session:
    """The session row, or Conflict when it is closed."""
    session = session_row(name)
    if session.closed_ms is not None:
        raise Conflict(f"session {name!r} is closed", details={"session": name})
    return session


def membership(session: store.Session, caller: str) -> store.Participant:
    """The caller's participant row, or Forbidden."""
    membership = store.Participant.get_or_none(
        (store.Participant.session == session.id) & (store.Participant.client == caller)
    )
    if membership is None:
        raise _not_a_participant(session, caller)
    return membership


def members_including(session: store.Session, caller: str) -> set[str]:
    """Client ids of a session's participants, in one query; Forbidden unless ``caller`` is one."""
    members = member_ids(session.id)
    if caller not in members:
        raise _not_a_participant(session, caller)
    return members


def _not_a_participant(session: store.Session, caller: str) -> Forbidden:
    return Forbidden(
        f"{caller!r} is not a participant of session {session.name!r}; "
        "ask a participant to invite you",
        details={"session": session.name},
    )


def member_ids(session_id: int) -> set[str]:
    """Client ids of a session's participants."""
    rows = store.Participant.select(store.Participant.client).where(
        store.Participant.session == session_id
    )
    return {row.client_id for row in rows}


def session_summaries(caller: str, include_closed: bool) -> ModelSelect:
    """The caller's sessions, newest first, each with its counts, in one statement.

    Each row is a dict of the session's columns with ``last_read_id``, ``participants``,
    ``last_id`` (the newest message the caller may read) and ``unread`` (messages from others
    past the read position that the caller may read). Listing thousands of sessions is one
    query, not three a session.
    """
    message, recipient, others = (
        store.Message.alias("m"),
        store.Recipient.alias("r"),
        (store.Participant.alias("p2")),
    )
    addressed = fn.EXISTS(
        recipient.select(SQL("1")).where(
            (recipient.message == message.id) & (recipient.client == caller)
        )
    )
    readable = (
        (message.session == store.Session.id)
        & ((message.narrowed == False) | (message.sender == caller) | addressed)  # noqa: E712
    )
    last_id = message.select(message.id).where(readable).order_by(message.id.desc()).limit(1)
    unread = message.select(fn.COUNT(message.id)).where(
        readable & (message.id > store.Participant.last_read_id) & (message.sender != caller)
    )
    participants = others.select(fn.COUNT(SQL("*"))).where(others.session == store.Session.id)
    query = (
        store.Session.select(
            store.Session,
            store.Participant.last_read_id,
            participants.alias("participants"),
            last_id.alias("last_id"),
            unread.alias("unread"),
        )
        .join(store.Participant)
        .where(store.Participant.client == caller)
        .order_by(store.Session.id.desc())
    )
    if not include_closed:
        query = query.where(store.Session.closed_ms.is_null())
    return query.dicts()


def visible_to(caller: str) -> ModelSelect:
    """Messages the caller may read (not yet restricted to its sessions)."""
    recipient = store.Recipient.alias()
    addressed = fn.EXISTS(
        recipient.select(recipient.message).where(
            (recipient.message == store.Message.id) & (recipient.client == caller)
        )
    )
    return store.Message.select().where(
        (store.Message.narrowed == False)  # noqa: E712 - SQL, not Python
        | (store.Message.sender == caller)
        | addressed
    )


def visible_message(caller: str, message_id: int, session_id: int | None = None) -> store.Message:
    """One message in a session the caller belongs to and may read, or NotFound."""
    row = (
        visible_to(caller)
        .join(
            store.Participant,
            JOIN.INNER,
            on=(
                (store.Participant.session == store.Message.session)
                & (store.Participant.client == caller)
            ),
        )
        .where(store.Message.id == message_id)
        .first()
    )
    if row is None or (session_id is not None and row.session_id != session_id):
        raise NotFound(f"message {message_id} does not exist or is not visible to you")
    return row


def counts(session_id: int, caller: str, last_read_id: int) -> tuple[int | None, int]:
    """The newest visible message id and the caller's unread count in a session."""
    visible = visible_to(caller).where(store.Message.session == session_id)
    last_id = visible.select(fn.MAX(store.Message.id)).scalar()
    unread = (
        visible.select(fn.COUNT(store.Message.id))
        .where((store.Message.id > last_read_id) & (store.Message.sender != caller))
        .scalar()
    )
    return last_id, unread or 0


def advance_read(session_id: int, caller: str, up_to_id: int) -> None:
    """Move a read position forward (never backward)."""
    with store.database.atomic():  # a write: queue with the others (see db.RelayDatabase)
        store.Participant.update(last_read_id=up_to_id).where(
            (store.Participant.session == session_id)
            & (store.Participant.client == caller)
            & (store.Participant.last_read_id < up_to_id)
        ).execute()


def in_list(field: Field, values: Iterable[int]) -> Expression:
    """``field IN values`` with one statement for any number of values.

    A plain ``IN (?, ?, ...)`` is new SQL for every length, and every SQLite connection (one a
    worker thread) compiles and caches each length it meets: the relay's memory crept up for
    minutes in the soak run. A JSON array in one parameter keeps the SQL the same.
    """
    return field.in_(SQL("(SELECT value FROM json_each(?))", (json.dumps(list(values)),)))


def page(query: ModelSelect, start: int | None, limit: int) -> MessagePage:
    """Run a message query as one page of at most ``limit`` rows in id order."""
    rows = list(query.order_by(store.Message.id).limit(limit + 1))
    has_more = len(rows) > limit
    messages = to_messages(rows[:limit])
    next_after = messages[-1].id if messages else start
    return MessagePage(messages=messages, next_after_id=next_after, has_more=has_more)


def to_messages(rows: Sequence[store.Message]) -> list[Message]:
    """Build Message models (with recipients and attachments) from rows, in three queries."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    session_names = dict(
        store.Session.select(store.Session.id, store.Session.name)
        .where(in_list(store.Session.id, {row.session_id for row in rows}))
        .tuples()
    )
    recipients: dict[int, list[str]] = {}
    narrowed = [row.id for row in rows if row.narrowed]
    if narrowed:
        for message_id, client_id in (
            store.Recipient.select(store.Recipient.message, store.Recipient.client)
            .where(in_list(store.Recipient.message, narrowed))
            .order_by(store.Recipient.client)
            .tuples()
        ):
            recipients.setdefault(message_id, []).append(client_id)
    files: dict[int, list[Attachment]] = {}
    for attachment in (
        store.Attachment.select()
        .where(in_list(store.Attachment.message, ids))
        .order_by(store.Attachment.message, store.Attachment.position)
    ):
        files.setdefault(attachment.message_id, []).append(
            Attachment(
                sha256=attachment.sha256,
                filename=attachment.filename,
                size=attachment.size,
                mime=attachment.mime,
            )
        )
    return [
        Message(
            id=row.id,
            session=session_names[row.session_id],
            sender=row.sender_id,
            to=recipients.get(row.id, []),
            reply_to=row.reply_to,
            text=row.text,
            attachments=files.get(row.id, []),
            created_at=from_ms(row.created_ms),
        )
        for row in rows
    ]


def may_read_blob(caller: str, sha256: str) -> bool:
    """True when the caller uploaded the file or can read a message that has it attached."""
    uploaded = store.Upload.select().where(
        (store.Upload.sha256 == sha256) & (store.Upload.uploader == caller)
    )
    if uploaded.exists():
        return True
    attached = (
        visible_to(caller)
        .join(
            store.Participant,
            on=(
                (store.Participant.session == store.Message.session)
                & (store.Participant.client == caller)
            ),
        )
        .switch(store.Message)
        .join(store.Attachment, on=(store.Attachment.message == store.Message.id))
        .where(store.Attachment.sha256 == sha256)
    )
    return attached.exists()


def blob_referenced(sha256: str) -> bool:
    return store.Attachment.select().where(store.Attachment.sha256 == sha256).exists()

"""Messages: storing them, and reading those a caller may see, as pages and counts.

Plain functions over the models; they run inside whatever transaction the caller opened.
Visibility lives here, in one place: a message with recipients (``narrowed``) is visible only to
its sender and those recipients.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Final, NamedTuple, cast

from peewee import JOIN, Database, Expression, ModelAlias, ModelSelect, fn

from relay_core import Attachment, Message, MessagePage, NotFound, from_ms, now_ms
from relay_core.names import ROLE_PREFIX
from relay_server.storage.models import Attachment as AttachmentRow
from relay_server.storage.models import (
    Delivery,
    MessageRole,
    Participant,
    Recipient,
    RoleHolder,
    Session,
    current,
    dialect,
)
from relay_server.storage.models import Message as MessageRow
from relay_server.storage.prepared import Prepared
from relay_server.storage.roles import addressed_roles


def visible_to(caller: str, now: int | None = None) -> ModelSelect[MessageRow]:
    """Messages the caller may read (not yet restricted to its sessions): see
    :func:`readable_by`."""
    return MessageRow.select().where(readable_by(caller, now_ms() if now is None else now))


def readable_by(
    caller: str, now: int, message: type[MessageRow] | ModelAlias[MessageRow] = MessageRow
) -> Expression:
    """``message`` (the model or an alias) is one the caller may read: not narrowed, sent by
    it, addressed to it, or addressed to a role it holds in the message's session now; and not
    expired at ``now`` (ms) unless it sent or read it. The one statement of the rule: every
    query of what a client may read uses it."""
    recipient = Recipient.alias()
    addressed = fn.EXISTS(
        recipient.select(recipient.message).where(
            (recipient.message == message.id) & (recipient.client == caller)
        )
    )
    role = MessageRole.alias()
    holding = RoleHolder.alias()
    by_role = fn.EXISTS(
        role.select(role.message)
        .join(
            holding,
            on=(
                (holding.session == message.session)
                & (holding.role == role.role)
                & (holding.holder == caller)
            ),
        )
        .where(role.message == message.id)
    )
    allowed: Expression = ~message.narrowed | (message.sender == caller) | addressed | by_role
    return allowed & unexpired_for(caller, now, message)


def unexpired_for(
    caller: str, now: int, message: type[MessageRow] | ModelAlias[MessageRow] = MessageRow
) -> Expression:
    """``message`` (the model or an alias) has not expired at ``now``, or the caller sent or
    read it (read: a delivery row says so; a read position that passed it does not count)."""
    read = Delivery.alias()
    was_read = fn.EXISTS(
        read.select(read.message).where(
            (read.message == message.id) & (read.client_id == caller) & read.read_ms.is_null(False)
        )
    )
    return (
        message.expires_ms.is_null()
        | (message.expires_ms > now)
        | (message.sender == caller)
        | was_read
    )


def visible_in_sessions(caller: str, now: int | None = None) -> ModelSelect[MessageRow]:
    """Messages the caller may read in the sessions it belongs to (joined to its participant
    rows, so a query may compare with its read position)."""
    return visible_to(caller, now).join(
        Participant,
        JOIN.INNER,
        on=((Participant.session == MessageRow.session) & (Participant.client == caller)),
    )


def visible_message(
    caller: str, message_id: int, session_id: int | None = None, now: int | None = None
) -> MessageRow:
    """One message in a session the caller belongs to and may read, or NotFound."""
    visible = visible_in_sessions(caller, now)
    row: MessageRow | None = visible.where(MessageRow.id == message_id).first()
    if row is None or (session_id is not None and row.session_id != session_id):
        raise NotFound(f"message {message_id} does not exist or is not visible to you")
    return row


def get_message(caller: str, message_id: int, now: int | None = None) -> Message:
    """One message the caller can read, or NotFound."""
    return to_messages([visible_message(caller, message_id, now=now)])[0]


def counts(
    session_id: int, caller: str, last_read_id: int, now: int | None = None
) -> tuple[int | None, int]:
    """The newest visible message id and the caller's unread count in a session."""
    visible = visible_to(caller, now).where(MessageRow.session == session_id)
    last_id = visible.select(fn.MAX(MessageRow.id)).scalar()
    unread = (
        visible.select(fn.COUNT(MessageRow.id))
        .where((MessageRow.id > last_read_id) & (MessageRow.sender != caller))
        .scalar()
    )
    return last_id, unread or 0


class Stored(NamedTuple):
    """A message row as a prepared query returns it (the columns of ``MessageRow.select()``)."""

    id: int
    session_id: int
    sender_id: str
    reply_to: int | None
    text: str
    narrowed: bool
    created_ms: int
    reply_by_ms: int | None
    expires_ms: int | None
    due_ms: int | None


def _session_page_query(
    caller: str, session_id: int, start: int, limit: int, now: int, others_only: bool
) -> ModelSelect[MessageRow]:
    query = visible_to(caller, now).where(
        (MessageRow.session == session_id) & (MessageRow.id > start)
    )
    if others_only:
        query = query.where(MessageRow.sender != caller)
    return query.order_by(MessageRow.id).limit(limit)


_PAGE_ARGUMENTS: dict[str, type[int] | type[str]] = {
    "caller": str,
    "session_id": int,
    "start": int,
    "limit": int,
    "now": int,
}
_SESSION_PAGE = Prepared(partial(_session_page_query, others_only=False), **_PAGE_ARGUMENTS)
_UNSEEN_PAGE = Prepared(partial(_session_page_query, others_only=True), **_PAGE_ARGUMENTS)


def session_page(caller: str, session_id: int, start: int, limit: int, now: int) -> MessagePage:
    """The messages of a session the caller may read at ``now`` after id ``start``: one page."""
    return _prepared_page(_SESSION_PAGE, caller, session_id, start, limit, now)


def unseen_in_session(
    caller: str, session_id: int, start: int, limit: int, now: int
) -> MessagePage:
    """Messages from others in one session after id ``start`` that the caller may read."""
    return _prepared_page(_UNSEEN_PAGE, caller, session_id, start, limit, now)


def _prepared_page(
    query: Prepared, caller: str, session_id: int, start: int, limit: int, now: int
) -> MessagePage:
    found = query.rows(caller=caller, session_id=session_id, start=start, limit=limit + 1, now=now)
    rows = [Stored(*row) for row in found]
    messages = to_messages(rows[:limit])
    next_after = messages[-1].id if messages else start
    return MessagePage(messages=messages, next_after_id=next_after, has_more=len(rows) > limit)


def unseen_everywhere(caller: str, after_id: int | None, limit: int, now: int) -> MessagePage:
    """Messages from others in all the caller's sessions that it may read: after ``after_id``
    (ids are global), or without it, after the caller's read position in each session."""
    query = visible_in_sessions(caller, now).where(MessageRow.sender != caller)
    if after_id is None:
        query = query.where(MessageRow.id > Participant.last_read_id)
    else:
        query = query.where(MessageRow.id > after_id)
    return _page(query, after_id or 0, limit)


def _page(query: ModelSelect[MessageRow], start: int | None, limit: int) -> MessagePage:
    """Run a message query as one page of at most ``limit`` rows in id order."""
    rows = list(query.order_by(MessageRow.id).limit(limit + 1))
    has_more = len(rows) > limit
    messages = to_messages(rows[:limit])
    next_after = messages[-1].id if messages else start
    return MessagePage(messages=messages, next_after_id=next_after, has_more=has_more)


def to_messages(rows: Sequence[MessageRow | Stored]) -> list[Message]:
    """Build Message models (with recipients and attachments) from rows, in three queries."""
    if not rows:
        return []
    in_list = dialect().in_list
    ids = [row.id for row in rows]
    # Peewee's stubs type the rows of .tuples() as models: the casts say what was selected.
    session_names = dict(
        cast(
            "Iterable[tuple[int, str]]",
            Session.select(Session.id, Session.name)
            .where(in_list(Session.id, {row.session_id for row in rows}))
            .tuples(),
        )
    )
    recipients: dict[int, list[str]] = {}
    narrowed = [row.id for row in rows if row.narrowed]  # 0 or 1 in a prepared query's rows
    if narrowed:
        pairs = cast(
            "Iterable[tuple[int, str]]",
            Recipient.select(Recipient.message, Recipient.client)
            .where(in_list(Recipient.message, narrowed))
            .order_by(Recipient.client)
            .tuples(),
        )
        for message_id, client_id in pairs:
            recipients.setdefault(message_id, []).append(client_id)
        for message_id, roles in addressed_roles(narrowed).items():
            recipients.setdefault(message_id, []).extend(ROLE_PREFIX + role for role in roles)
    files: dict[int, list[Attachment]] = {}
    for attachment in (
        AttachmentRow.select()
        .where(in_list(AttachmentRow.message, ids))
        .order_by(AttachmentRow.message, AttachmentRow.position)
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


def add_message(
    session_id: int,
    sender: str,
    *,
    text: str,
    reply_to: int | None,
    recipients: Sequence[str],
    attachments: Sequence[Attachment],
    stamp: int,
    to_roles: bool = False,
    deadlines: Deadlines | None = None,
) -> int:
    """Store a message with its recipients (it is narrowed when there are some, or when it is
    ``to_roles``), its attachments, in order, and its ``deadlines``; its id."""
    db = current()
    # The statement is built once per database: peewee building it took most of a send's CPU.
    sql = _insert_sql.get(db) or _insert_sql.setdefault(db, _message_insert_sql(db))
    times = deadlines or _NO_DEADLINES
    params = (
        session_id,
        sender,
        reply_to,
        text,
        bool(recipients) or to_roles,
        stamp,
        times.reply_by_ms,
        times.expires_ms,
        times.due_ms,
    )
    # Peewee's stubs leave execute_sql untyped; RETURNING gives the id on every backend.
    execute: Callable[[str, Sequence[object]], sqlite3.Cursor] = db.execute_sql
    message_id: int = execute(sql, params).fetchone()[0]
    if recipients:
        Recipient.insert_many([{"message": message_id, "client": c} for c in recipients]).execute()
    if attachments:
        AttachmentRow.insert_many(
            [
                {"message": message_id, "position": i, **a.model_dump()}
                for i, a in enumerate(attachments)
            ]
        ).execute()
    return message_id


class Deadlines(NamedTuple):
    """A message's reply-by and expiry times (ms), and the first of them to act on."""

    reply_by_ms: int | None = None
    expires_ms: int | None = None

    @property
    def due_ms(self) -> int | None:
        """The first deadline: reply-by comes no later than expiry."""
        return self.reply_by_ms if self.reply_by_ms is not None else self.expires_ms


_NO_DEADLINES: Final = Deadlines()
_insert_sql: weakref.WeakKeyDictionary[Database, str] = weakref.WeakKeyDictionary()


def _message_insert_sql(db: Database) -> str:
    """``INSERT`` of one message row, its values in :func:`add_message`'s order."""
    fields = (
        MessageRow.session,
        MessageRow.sender,
        MessageRow.reply_to,
        MessageRow.text,
        MessageRow.narrowed,
        MessageRow.created_ms,
        MessageRow.reply_by_ms,
        MessageRow.expires_ms,
        MessageRow.due_ms,
    )
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    values = ", ".join(db.param for _ in fields)
    table = MessageRow._meta.table_name
    return f'INSERT INTO "{table}" ({columns}) VALUES ({values}) RETURNING "id"'


def latest_message_id() -> int:
    """The newest message id in the relay (0 when empty)."""
    latest: int | None = MessageRow.select(fn.MAX(MessageRow.id)).scalar()
    return latest or 0


def count_messages() -> int:
    """How many messages the relay holds."""
    count: int = MessageRow.select().count()
    return count

"""Tasks: their rows and history, moves made as compare-and-set, and the leases that lapsed.

Plain functions over the task tables (made by ``m004_tasks``); they run inside whatever
transaction the caller opened. A move changes a row only if it is still in the state (and held
by the holder) its caller read: of two racing claimers, exactly one sees its update count 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from peewee import JOIN, BigAutoField, BigIntegerField, CharField, ForeignKeyField, TextField

from relay_core import Attachment, NotFound
from relay_core.tasks import TaskState
from relay_server.storage.models import Attachment as AttachmentRow
from relay_server.storage.models import BaseModel, Client, Participant, Session, dialect

ACTIVE_STATES: tuple[TaskState, ...] = ("working", "input-required")
"""The states in which a task is held on a lease."""


class TaskRow(BaseModel):
    """A task handed off in a session."""

    id = BigAutoField()
    session = ForeignKeyField(Session, on_delete="CASCADE")
    title = TextField()
    details = TextField(default="")
    giver = CharField(max_length=64)
    assignee = CharField(max_length=64, null=True)
    claimed_by = CharField(max_length=64, null=True)
    state = CharField(max_length=32)
    lease_ms = BigIntegerField(null=True)
    renewed_ms = BigIntegerField(null=True)
    created_ms = BigIntegerField()
    updated_ms = BigIntegerField()

    session_id: int

    class Meta:
        table_name = "task"


class TaskEventRow(BaseModel):
    """One change of a task."""

    id = BigAutoField()
    task = ForeignKeyField(TaskRow, on_delete="CASCADE")
    at_ms = BigIntegerField()
    by_client = CharField(max_length=64)
    role = CharField(max_length=16)
    from_state = CharField(max_length=32, null=True)
    state = CharField(max_length=32)
    note = TextField(default="")
    message_id = BigIntegerField(null=True)

    task_id: int

    class Meta:
        table_name = "task_event"


@dataclass(frozen=True)
class Lapsed:
    """A held task whose lease ran out: its row, and when the lease ended."""

    task: TaskRow
    ended_ms: int


def add_task(
    session_id: int, title: str, details: str, giver: str, assignee: str | None, stamp: int
) -> TaskRow:
    """Store a new, submitted task; its row."""
    row: TaskRow = TaskRow.create(
        session=session_id,
        title=title,
        details=details,
        giver=giver,
        assignee=assignee,
        state="submitted",
        created_ms=stamp,
        updated_ms=stamp,
    )
    return row


def task_row(task_id: int) -> TaskRow:
    """The task of that id, or NotFound."""
    row: TaskRow | None = TaskRow.get_or_none(TaskRow.id == task_id)
    if row is None:
        raise NotFound(f"task {task_id} does not exist", details={"task": task_id})
    return row


def move(row: TaskRow, **changes: Any) -> bool:
    """Change ``row`` as read (same state, same holder) with ``changes``; False when another
    change got there first. ``row`` is updated in memory on success."""
    done = (
        TaskRow.update(**changes)
        .where(
            (TaskRow.id == row.id)
            & (TaskRow.state == row.state)
            & (
                TaskRow.claimed_by.is_null()
                if row.claimed_by is None
                else TaskRow.claimed_by == row.claimed_by
            )
        )
        .execute()
    )
    if done != 1:
        return False
    for key, value in changes.items():
        setattr(row, key, value)
    return True


def add_event(
    task_id: int,
    *,
    at_ms: int,
    by: str,
    role: str,
    from_state: str | None,
    state: str,
    note: str,
    message_id: int | None,
) -> None:
    """Record one change of a task."""
    TaskEventRow.create(
        task=task_id,
        at_ms=at_ms,
        by_client=by,
        role=role,
        from_state=from_state,
        state=state,
        note=note,
        message_id=message_id,
    )


def events(task_id: int) -> list[TaskEventRow]:
    """A task's history, oldest first."""
    return list(TaskEventRow.select().where(TaskEventRow.task == task_id).order_by(TaskEventRow.id))


def attachments_of(message_ids: Iterable[int]) -> dict[int, list[Attachment]]:
    """The files of these messages, in order, by message id."""
    ids = list(message_ids)
    files: dict[int, list[Attachment]] = {}
    if not ids:
        return files
    for row in (
        AttachmentRow.select()
        .where(dialect().in_list(AttachmentRow.message, ids))
        .order_by(AttachmentRow.message, AttachmentRow.position)
    ):
        files.setdefault(row.message_id, []).append(
            Attachment(sha256=row.sha256, filename=row.filename, size=row.size, mime=row.mime)
        )
    return files


def tasks_for(
    caller: str,
    session_id: int | None,
    state: TaskState | None,
    mine: bool,
    limit: int,
) -> list[tuple[TaskRow, str]]:
    """Tasks in the caller's sessions (or one of them), newest change first, with each one's
    session name; ``mine``: those the caller gave, is assigned or holds."""
    query = (
        TaskRow.select(TaskRow, Session.name)
        .join(Session)
        .join(
            Participant,
            JOIN.INNER,
            on=((Participant.session == TaskRow.session) & (Participant.client == caller)),
        )
    )
    if session_id is not None:
        query = query.where(TaskRow.session == session_id)
    if state is not None:
        query = query.where(TaskRow.state == state)
    if mine:
        query = query.where(
            (TaskRow.giver == caller)
            | (TaskRow.assignee == caller)
            | (TaskRow.claimed_by == caller)
        )
    rows = query.order_by(TaskRow.updated_ms.desc(), TaskRow.id.desc()).limit(limit)
    return [(row, row.session.name) for row in rows]


def lease_end(row: TaskRow, last_seen_ms: int | None) -> int | None:
    """When a held task's lease ends: its length after the later of the holder's last change to
    the task and its last call to the relay; None for a task not held."""
    if row.state not in ACTIVE_STATES or row.lease_ms is None or row.renewed_ms is None:
        return None
    return max(row.renewed_ms, last_seen_ms or 0) + row.lease_ms


def lapsed(now: int) -> list[Lapsed]:
    """Held tasks in open sessions whose lease ended before ``now``."""
    query = (
        TaskRow.select(TaskRow, Client.last_seen_ms)
        .join(Session, on=(Session.id == TaskRow.session))
        .switch(TaskRow)
        .join(Client, JOIN.LEFT_OUTER, on=(Client.client_id == TaskRow.claimed_by))
        .where(dialect().in_list(TaskRow.state, ACTIVE_STATES))
        .where(Session.closed_ms.is_null() & (TaskRow.renewed_ms + TaskRow.lease_ms < now))
    )
    found = []
    for row in query.objects():
        end = lease_end(row, cast("int | None", getattr(row, "last_seen_ms", None)))
        if end is not None and end < now:
            found.append(Lapsed(row, end))
    return found


def session_of(row: TaskRow) -> Session:
    """The session a task belongs to."""
    session: Session = Session.get_by_id(row.session_id)
    return session


def last_seen(client_id: str | None) -> int | None:
    """When a client last called the relay (None: never, or no client)."""
    if client_id is None:
        return None
    seen: int | None = (
        Client.select(Client.last_seen_ms).where(Client.client_id == client_id).scalar()
    )
    return seen

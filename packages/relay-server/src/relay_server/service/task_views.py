"""How a task looks from outside: the models the service answers with, and the text of the
session message that announces each change."""

from __future__ import annotations

from dataclasses import dataclass

from relay_core import from_ms
from relay_core.tasks import Task, TaskEvent, TaskSummary
from relay_server.storage import tasks
from relay_server.storage.tasks import TaskRow

ANNOUNCEMENT_PREFIX = "[task "
"""Every task message starts so: ``[task 7 submitted→working by bob] Title``."""


def announcement(row: TaskRow, by: str, from_state: str | None, note: str) -> str:
    """The text of the session message for one change of a task (``row`` as it is after it).

    The first line is ``[task ID FROM→TO by WHO] TITLE`` (a new task: ``[task ID submitted by
    WHO for ASSIGNEE]``); the note, if any, follows after a blank line.
    """
    if from_state is None:
        change = f"submitted by {by} for {row.assignee or 'anyone'}"
    elif from_state == row.state:
        change = f"{row.state}: note by {by}"
    else:
        change = f"{from_state}→{row.state} by {by}"
    head = f"{ANNOUNCEMENT_PREFIX}{row.id} {change}] {row.title}"
    return f"{head}\n\n{note}" if note else head


@dataclass(frozen=True)
class TaskView:
    """A task row with its session's name, ready to become a model."""

    row: TaskRow
    session: str

    def summary(self) -> TaskSummary:
        """The task as lists show it."""
        row = self.row
        return TaskSummary.model_validate(
            {
                "id": row.id,
                "session": self.session,
                "title": row.title,
                "state": row.state,
                "giver": row.giver,
                "assignee": row.assignee,
                "claimed_by": row.claimed_by,
                "updated_at": from_ms(row.updated_ms),
            }
        )

    def task(self, holder_last_seen_ms: int | None) -> Task:
        """The whole task: details, files, lease and history (two queries)."""
        rows = tasks.events(self.row.id)
        files = tasks.attachments_of(e.message_id for e in rows if e.message_id is not None)
        history = [
            TaskEvent.model_validate(
                {
                    "at": from_ms(e.at_ms),
                    "by": e.by_client,
                    "role": e.role,
                    "from_state": e.from_state,
                    "state": e.state,
                    "note": e.note,
                    "message_id": e.message_id,
                    "attachments": files.get(e.message_id, []) if e.message_id else [],
                }
            )
            for e in rows
        ]
        lease_end = tasks.lease_end(self.row, holder_last_seen_ms)
        return Task(
            **self.summary().model_dump(),
            details=self.row.details,
            created_at=from_ms(self.row.created_ms),
            lease_expires_at=from_ms(lease_end) if lease_end is not None else None,
            inputs=[a for e in history if e.role == "giver" for a in e.attachments],
            results=[a for e in history if e.role == "assignee" for a in e.attachments],
            history=history,
        )

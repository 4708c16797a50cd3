"""Task hand-off: the states of a task (the A2A task lifecycle), who may move it where, and the
shapes the relay and its clients exchange about tasks.

A task belongs to a session. Its **giver** hands it off, to one **assignee** or to anyone in the
session; whoever claims it holds it (``claimed_by``) on a lease that the holder's activity on
the relay renews. :data:`MOVES` is the whole lifecycle: every legal move, and the one role that
may make it. Any other move is refused with the list of legal ones (:func:`legal_moves_text`).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, get_args

from pydantic import AfterValidator, Field, field_validator

from relay_core.models import Attachment, AttachmentRef, RelayModel, RequestModel
from relay_core.names import ClientId, SessionName
from relay_core.timestamps import Timestamp
from relay_core.wire import API_PREFIX, MAX_ATTACHMENTS

TaskState = Literal[
    "submitted", "working", "input-required", "completed", "failed", "canceled", "rejected"
]
"""The A2A task states the relay uses (A2A's ``auth-required`` and ``unknown`` are not)."""

TASK_STATES: Final[tuple[TaskState, ...]] = get_args(TaskState)
TERMINAL_STATES: Final[frozenset[TaskState]] = frozenset(
    {"completed", "failed", "canceled", "rejected"}
)
"""States no move leaves."""

Role = Literal["giver", "assignee", "relay"]
"""Who makes a move: the giver, the assignee (the holder of the claim, or for a submitted task
whoever may claim it), or the relay itself (a lease that lapsed)."""

MOVES: Final[dict[tuple[TaskState, TaskState], Role]] = {
    ("submitted", "working"): "assignee",  # a claim
    ("submitted", "rejected"): "assignee",
    ("submitted", "canceled"): "giver",
    ("working", "input-required"): "assignee",
    ("working", "completed"): "assignee",
    ("working", "failed"): "assignee",
    ("working", "canceled"): "giver",
    ("working", "submitted"): "relay",  # the holder's lease lapsed
    ("input-required", "working"): "giver",  # the giver answers
    ("input-required", "failed"): "assignee",
    ("input-required", "canceled"): "giver",
    ("input-required", "submitted"): "relay",
}
"""Every legal move of a task, and who may make it."""

DEFAULT_LEASE_S: Final = 600
MIN_LEASE_S: Final = 10
MAX_LEASE_S: Final = 7 * 24 * 3600
MAX_TITLE_CHARS: Final = 200
MAX_TASK_TEXT_BYTES: Final = 16 * 1024
"""Details and notes: they travel in a session message too, which has room for 64 KiB."""


def legal_moves(state: TaskState) -> list[tuple[TaskState, Role]]:
    """The moves from ``state``, with who makes each (none from a terminal state)."""
    return [(to, role) for (start, to), role in MOVES.items() if start == state]


def legal_moves_text(state: TaskState) -> str:
    """The legal moves from ``state`` as a phrase, for errors."""
    moves = [f"{to} (by the {role})" for to, role in legal_moves(state) if role != "relay"]
    if not moves:
        return f"{state} is final: no move is legal from it"
    return f"legal moves from {state}: " + ", ".join(moves)


def _check_task_text(text: str) -> str:
    size = len(text.encode("utf-8"))
    if size > MAX_TASK_TEXT_BYTES:
        raise ValueError(f"text is {size} bytes; the limit is {MAX_TASK_TEXT_BYTES} bytes (UTF-8)")
    return text


TaskText = Annotated[str, AfterValidator(_check_task_text)]


def _check_title(title: str) -> str:
    title = title.strip()
    if not title or "\n" in title or len(title) > MAX_TITLE_CHARS:
        raise ValueError(f"a title is one line of 1-{MAX_TITLE_CHARS} characters")
    return title


class HandoffRequest(RequestModel):
    """A new task, given by the caller."""

    title: Annotated[str, AfterValidator(_check_title)] = Field(description="One line.")
    details: TaskText = Field(default="", description="What to do, and what done looks like.")
    assignee: ClientId | None = Field(
        default=None, description="The one participant who may claim it; null: anyone."
    )
    attachments: list[AttachmentRef] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS, description="Input files."
    )


class ClaimRequest(RequestModel):
    """A claim: the caller takes a submitted task, on a lease its activity renews."""

    lease_s: int = Field(default=DEFAULT_LEASE_S, ge=MIN_LEASE_S, le=MAX_LEASE_S)


class UpdateTaskRequest(RequestModel):
    """A move to ``state`` (null: a note only), with a note and files."""

    state: TaskState | None = None
    note: TaskText = ""
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)

    @field_validator("note")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class TaskEvent(RelayModel):
    """One change of a task: who, when, from which state to which, the note and its files."""

    at: Timestamp = Field(description="When (UTC).")
    by: str = Field(description="Client id, or 'relay' for a lapsed lease.")
    role: Role = Field(description="giver, assignee or relay.")
    from_state: TaskState | None = Field(description="The state before; null when created.")
    state: TaskState = Field(description="The state after.")
    note: str = Field(default="", description="What was said with the change.")
    message_id: int | None = Field(default=None, description="The session message announcing it.")
    attachments: list[Attachment] = Field(default_factory=list, description="Files given.")


class TaskSummary(RelayModel):
    """A task as lists show it."""

    id: int = Field(description="The task's id.")
    session: SessionName = Field(description="The session it belongs to.")
    title: str = Field(description="One line.")
    state: TaskState = Field(description="Its A2A state.")
    giver: ClientId = Field(description="Who handed it off.")
    assignee: ClientId | None = Field(description="Who may claim it; null: anyone.")
    claimed_by: ClientId | None = Field(description="Who holds it now.")
    updated_at: Timestamp = Field(description="Its last change (UTC).")


class Task(TaskSummary):
    """A task with its details, files, lease and history."""

    details: str = Field(default="", description="What to do.")
    created_at: Timestamp = Field(description="When it was handed off (UTC).")
    lease_expires_at: Timestamp | None = Field(
        default=None, description="When the holder's claim lapses without activity."
    )
    inputs: list[Attachment] = Field(default_factory=list, description="Files from the giver.")
    results: list[Attachment] = Field(default_factory=list, description="Files from the holder.")
    history: list[TaskEvent] = Field(default_factory=list, description="Every change, in order.")


class TaskWait(RelayModel):
    """The answer to a wait for a task: the task, and whether the wait ran out first."""

    task: Task
    timed_out: bool = Field(default=False, description="True when no awaited state came in time.")


TASKS_PATH: Final = f"{API_PREFIX}/tasks"
"""``GET``: the caller's tasks; ``/{id}``: one (``PATCH`` moves it); ``/{id}/claim``,
``/{id}/wait``. A task is given with ``POST /api/v1/sessions/{name}/tasks``."""


def task_path(task_id: int, action: str = "") -> str:
    """``/api/v1/tasks/{id}``, or ``/api/v1/tasks/{id}/{action}`` (``claim``, ``wait``)."""
    return f"{TASKS_PATH}/{task_id}" + (f"/{action}" if action else "")

"""The lifecycle's rules applied to one task: who may make a move, what it changes, and the
errors that say why not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from relay_core import Conflict, Forbidden, InvalidInput
from relay_core.tasks import (
    MOVES,
    TASK_STATES,
    TERMINAL_STATES,
    Role,
    TaskState,
    legal_moves,
    legal_moves_text,
)
from relay_server.storage.tasks import TaskRow

AWAITED: Final[tuple[TaskState, ...]] = ("input-required", *sorted(TERMINAL_STATES))
"""What a giver waits for unless it says otherwise: its turn, or the end."""


def state_of(row: TaskRow) -> TaskState:
    state = str(row.state)
    for known in TASK_STATES:
        if known == state:
            return known
    raise ValueError(f"task {row.id} has an unknown state {state!r}")


def awaited(until: Sequence[TaskState] | None) -> frozenset[TaskState]:
    if not until:
        return frozenset(AWAITED)
    unknown = [s for s in until if s not in TASK_STATES]
    if unknown:
        raise InvalidInput(f"until: {unknown[0]!r} is not a task state ({', '.join(TASK_STATES)})")
    return frozenset(until)


def role_for(row: TaskRow, caller: str, to: TaskState | None) -> Role:
    """The role in which the caller makes this move (or adds a note), or why it may not."""
    state = state_of(row)
    holder = row.claimed_by
    if to is None:
        if state in TERMINAL_STATES:
            raise Conflict(f"task {row.id} is {state}: {legal_moves_text(state)}")
        if caller == row.giver:
            return "giver"
        if caller == holder:
            return "assignee"
        raise Forbidden(
            f"only the giver {row.giver!r} or the holder may add notes to task {row.id}"
        )
    role = MOVES.get((state, to))
    if role is None or role == "relay":
        raise Conflict(
            f"task {row.id} cannot go from {state} to {to}: {legal_moves_text(state)}",
            details={"state": state, "legal": [m for m, r in legal_moves(state) if r != "relay"]},
        )
    if role == "giver" and caller != row.giver:
        raise Forbidden(f"only {row.giver!r}, who gave task {row.id}, may move it to {to}")
    if role == "assignee" and state == "submitted":
        if row.assignee not in (None, caller):
            raise Forbidden(f"task {row.id} is assigned to {row.assignee!r}; only it may take it")
    elif role == "assignee" and caller != holder:
        raise Forbidden(f"only {holder!r}, who holds task {row.id}, may move it to {to}")
    return role


def changes(
    row: TaskRow, caller: str, to: TaskState | None, role: Role, lease_s: int, stamp: int
) -> dict[str, object]:
    """The columns a move (or a note) changes."""
    changes: dict[str, object] = {"updated_ms": stamp}
    if to is not None:
        changes["state"] = to
    if row.state == "submitted" and to == "working":
        changes.update(claimed_by=caller, lease_ms=lease_s * 1000, renewed_ms=stamp)
    elif role == "assignee" or to == "working":
        # The holder's own change, or the giver's answer it waited for, renews the lease.
        changes["renewed_ms"] = stamp
    return changes


def not_claimable(row: TaskRow, state: TaskState) -> Conflict:
    held = (
        f", held by {row.claimed_by!r}" if state not in TERMINAL_STATES and row.claimed_by else ""
    )
    return Conflict(
        f"task {row.id} is {state}{held}: only a submitted task can be claimed",
        details={"task": row.id, "state": state},
    )


def lost_race(task_id: int) -> Conflict:
    return Conflict(
        f"task {task_id} changed while this change was being made (another claim or update came "
        "first); read it again with get_task",
        details={"task": task_id},
    )

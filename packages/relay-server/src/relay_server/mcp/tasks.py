"""Task tools: `handoff_task`, `list_tasks`, `get_task` (also as an A2A Task), `claim_task`,
`update_task`, `wait_for_task`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastmcp.server.dependencies import get_http_request
from fastmcp.tools import ToolResult
from pydantic import Field

from relay_core.a2a import to_a2a
from relay_core.tasks import (
    DEFAULT_LEASE_S,
    ClaimRequest,
    HandoffRequest,
    Task,
    TaskState,
    TaskWait,
    UpdateTaskRequest,
)
from relay_core.toon import encode_table
from relay_core.wire import DEFAULT_WAIT_S, MAX_WAIT_S
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import SessionArg, toon_result

TaskId = Annotated[int, Field(description="Task id.")]
Files = Annotated[
    list[dict[str, Any]],
    Field(description="Uploaded files, as send_message takes them: {sha256, filename, mime?}."),
]
"""Checked by the request model; the schema leaves out AttachmentRef's, which send_message's
already shows, to spare every agent's context the same ~100 tokens twice more."""


def handoff_task(
    session: SessionArg,
    title: Annotated[str, Field(description="One line.")],
    details: Annotated[str, Field(description="What to do; what done means.")] = "",
    assignee: Annotated[str | None, Field(description="Client id; null: anyone.")] = None,
    attachments: Files = [],  # noqa: B006 - FastMCP copies defaults
) -> Task:
    """Give a task to a participant (or anyone) in a session; it starts submitted."""
    request = HandoffRequest.parse(
        {"title": title, "details": details, "assignee": assignee, "attachments": attachments}
    )
    return relay_service().handoff_task(current_caller(), session, request)


def list_tasks(
    session: Annotated[str | None, Field(description="One session; null: all.")] = None,
    state: TaskState | None = None,
    mine: Annotated[bool, Field(description="Only ones you gave, hold or are assigned.")] = False,
) -> ToolResult:
    """Tasks in your sessions (TOON), latest change first."""
    found = relay_service().list_tasks(current_caller(), session, state, mine)
    return toon_result(encode_table("tasks", found))


def get_task(
    id: TaskId,
    format: Literal["relay", "a2a"] = "relay",
) -> dict[str, Any]:
    """A task with its files and history; format a2a: as an A2A Task."""
    task = relay_service().get_task(current_caller(), id)
    if format == "a2a":
        return to_a2a(task, str(get_http_request().base_url))
    return task.model_dump(mode="json", exclude_none=True)


def claim_task(
    id: TaskId,
    lease_s: Annotated[int, Field(description="Held while you are active this recently.")] = (
        DEFAULT_LEASE_S
    ),
) -> Task:
    """Take a submitted task (it becomes working, held by you)."""
    request = ClaimRequest.parse({"lease_s": lease_s})
    return relay_service().claim_task(current_caller(), id, request)


def update_task(
    id: TaskId,
    state: Annotated[TaskState | None, Field(description="New state; null: a note only.")],
    note: str = "",
    attachments: Files = [],  # noqa: B006
) -> Task:
    """Move a task: the holder to input-required/completed/failed, the giver to working
    (answer) or canceled. Errors list the legal moves."""
    request = UpdateTaskRequest.parse({"state": state, "note": note, "attachments": attachments})
    return relay_service().update_task(current_caller(), id, request)


async def wait_for_task(
    id: TaskId,
    until: Annotated[list[TaskState], Field(description="Default: input-required or final.")] = [],  # noqa: B006
    timeout_s: Annotated[float, Field(description=f"0-{MAX_WAIT_S:g} s.")] = DEFAULT_WAIT_S,
) -> TaskWait:
    """Block until a task reaches one of `until`, then return it."""
    return await relay_service().wait_for_task(current_caller(), id, until, timeout_s)

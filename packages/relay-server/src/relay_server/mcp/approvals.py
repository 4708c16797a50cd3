"""Approval tools: list the permission prompts you may answer, and answer one."""

from __future__ import annotations

from typing import Annotated

from fastmcp.tools import ToolResult
from pydantic import Field

from relay_core.approvals import AnswerRequest, Approval, Behavior
from relay_core.toon import encode
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import toon_result

LISTED = ("id", "requester", "tool", "description", "input_preview", "state", "decided_by")
"""The columns list_approvals shows (the rest is in the HTTP API and the CLI)."""


def list_approvals(
    history: Annotated[bool, Field(description="Also answered and expired ones.")] = False,
) -> ToolResult:
    """Permission prompts you may answer or asked for (TOON); pending ones unless history."""
    found = relay_service().list_approvals(current_caller(), history=history)
    rows = [approval.model_dump(mode="json", include=set(LISTED)) for approval in found.approvals]
    return toon_result(encode({"approvals": rows}))


def answer_approval(
    id: Annotated[int, Field(description="Approval id.")],
    behavior: Behavior,
    note: Annotated[str, Field(description="Why; the requester sees it.")] = "",
) -> Approval:
    """Allow or deny another agent's pending permission prompt (its Claude Code gets it once)."""
    answer = AnswerRequest.parse({"behavior": behavior, "note": note})
    return relay_service().answer_approval(current_caller(), id, answer)

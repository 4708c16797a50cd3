"""What approvals look like to Claude Code: channel events for approvers and the requester, and
the structured answer that alone settles a permission prompt.

The text parts come from the requester's Claude Code (tool, description, input preview) or an
approver (note), so they get the same treatment as a message's text (:mod:`.channel_event`):
tags neutralised in ``content``, the tool name percent-encoded in ``meta``.
"""

from __future__ import annotations

from typing import Any

from relay_core.approvals import Approval
from relay_server.mcp.channel_event import encode_filename, neutralise_tags


def approval_request_params(approval: Approval) -> dict[str, Any]:
    """The channel event telling an approver that a prompt waits for its answer."""
    content = (
        f"{approval.requester}'s Claude Code asks to use {approval.tool}: "
        f"{approval.description}\n{approval.input_preview}\n"
        f"Answer with answer_approval(id={approval.id}, behavior=allow|deny)."
    )
    meta = {
        "kind": "approval",
        "approval_id": str(approval.id),
        "from": approval.requester,
        "tool": encode_filename(approval.tool),
        "expires_at": approval.expires_at.isoformat(),
    }
    return {"content": neutralise_tags(content), "meta": meta}


def decision_params(approval: Approval) -> dict[str, Any]:
    """The channel event telling the requester who decided what."""
    note = f" ({approval.note})" if approval.note else ""
    content = (
        f"{approval.decided_by} {approval.state} {approval.tool}: {approval.description}{note}"
    )
    meta = {
        "kind": "approval",
        "approval_id": str(approval.id),
        "from": approval.decided_by or "",
        "state": approval.state,
    }
    return {"content": neutralise_tags(content), "meta": meta}


def permission_params(approval: Approval) -> dict[str, str]:
    """The ``notifications/claude/channel/permission`` params answering the prompt."""
    return {
        "request_id": approval.request_id,
        "behavior": "allow" if approval.state == "allowed" else "deny",
    }

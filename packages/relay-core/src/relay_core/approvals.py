"""Approvals: Claude Code's permission prompts relayed to approvers on other machines, and each
client's settings for them (who approves its prompts, whose messages are pushed into it).

Claude Code (2.1.330) sends a channel server that declares
``experimental["claude/channel/permission"]`` the notification :data:`PERMISSION_REQUEST_METHOD`
with ``{request_id, tool_name, description, input_preview}``; only the notification
:data:`PERMISSION_METHOD` with ``{request_id, behavior}`` answers it. On the relay each prompt is
an :class:`Approval`: pending until an approver answers or it expires, then kept as the audit
trail with every :class:`ApprovalEvent` (refused answers included).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field

from relay_core.models import RelayModel, RequestModel
from relay_core.names import ClientId
from relay_core.timestamps import Timestamp
from relay_core.wire import API_PREFIX, MAX_PARTICIPANTS

PERMISSION_CAPABILITY: Final = "claude/channel/permission"
PERMISSION_REQUEST_METHOD: Final = "notifications/claude/channel/permission_request"
PERMISSION_METHOD: Final = "notifications/claude/channel/permission"

MAX_PREVIEW_CHARS: Final = 2000
"""An input preview is cut to this many characters (Claude Code sends ~200)."""
MAX_TOOL_CHARS: Final = 200
MAX_NOTE_CHARS: Final = 500
APPROVAL_TTL_S: Final = 600
"""A prompt nobody answered within this long is expired."""

SETTINGS_PATH: Final = f"{API_PREFIX}/settings"
APPROVALS_PATH: Final = f"{API_PREFIX}/approvals"

ApprovalState = Literal["pending", "allowed", "denied", "expired"]
Behavior = Literal["allow", "deny"]


def approval_path(approval_id: int) -> str:
    """The route of one approval."""
    return f"{APPROVALS_PATH}/{int(approval_id)}"


def approval_answer_path(approval_id: int) -> str:
    """The route that answers one approval."""
    return f"{approval_path(approval_id)}/answer"


class ClientSettings(RelayModel):
    """A client's own settings on the relay."""

    approvers: list[ClientId] = Field(
        default_factory=list, description="Who may answer this client's permission prompts."
    )
    push_from: list[ClientId] | None = Field(
        default=None,
        description="Whose messages are pushed live into this client's sessions; null: anyone "
        "who shares a session with it.",
    )


ClientIdList = Annotated[list[ClientId], Field(max_length=MAX_PARTICIPANTS)]


class SettingsUpdate(RequestModel):
    """A change of settings: only the fields given change (``push_from: null`` restores it)."""

    approvers: ClientIdList | None = Field(default=None, description="The new approvers.")
    push_from: ClientIdList | None = Field(default=None, description="The new push allowlist.")


class AnswerRequest(RequestModel):
    """An approver's answer to a prompt."""

    behavior: Behavior = Field(description="allow or deny.")
    note: Annotated[str, Field(max_length=MAX_NOTE_CHARS)] = Field(
        default="", description="Why, for the requester and the audit trail."
    )


class ApprovalEvent(RelayModel):
    """One line of an approval's audit trail."""

    at: Timestamp = Field(description="When.")
    actor: ClientId = Field(description="Who.")
    action: str = Field(
        description="requested, allowed, denied, or refused: CODE (an answer that was refused)."
    )
    note: str = Field(default="", description="The answer's note or why it was refused.")


class Approval(RelayModel):
    """One permission prompt of a client's Claude Code, and what became of it."""

    id: int = Field(description="The relay's id of the approval.")
    request_id: str = Field(description="Claude Code's short id of the prompt.")
    requester: ClientId = Field(description="Whose Claude Code asks.")
    tool: str = Field(description="The tool it wants to use.")
    description: str = Field(description="What the call does, as Claude Code describes it.")
    input_preview: str = Field(description="The call's input, cut short.")
    state: ApprovalState = Field(description="pending, allowed, denied or expired.")
    created_at: Timestamp = Field(description="When the prompt arrived.")
    expires_at: Timestamp = Field(description="When it expires unanswered.")
    approvers: list[ClientId] = Field(description="Who may answer it.")
    decided_by: ClientId | None = Field(default=None, description="Who answered.")
    decided_at: Timestamp | None = Field(default=None, description="When.")
    note: str = Field(default="", description="The answer's note.")
    events: list[ApprovalEvent] = Field(
        default_factory=list, description="The audit trail (in the answer for one approval)."
    )


class ApprovalList(RelayModel):
    """A page of approvals, oldest first."""

    approvals: list[Approval] = Field(description="The approvals.")
    timed_out: bool = Field(default=False, description="A wait ended without news.")

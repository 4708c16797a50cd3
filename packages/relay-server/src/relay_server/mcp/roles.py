"""Role tools: claim a role of a session (``@reviewer`` then reaches you) and release it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from relay_core.models import RoleClaim
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import SessionArg

RoleArg = Annotated[str, Field(description="Role name, e.g. reviewer.")]


def claim_role(session: SessionArg, role: RoleArg) -> RoleClaim:
    """Hold a role: messages to @role reach you (held ones listed), until someone claims it."""
    return relay_service().claim_role(current_caller(), session, role)


def release_role(session: SessionArg, role: RoleArg) -> RoleClaim:
    """Give up a role you hold."""
    return relay_service().release_role(current_caller(), session, role)

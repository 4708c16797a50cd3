"""Session tools: create, list, show, invite to, leave and close named sessions."""

from __future__ import annotations

from typing import Annotated

from fastmcp.tools import ToolResult
from pydantic import Field

from relay_core import CreateSessionRequest, InviteRequest, SessionDetail
from relay_core.toon import encode_table
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import SessionArg, toon_result


def create_session(
    name: SessionArg,
    participants: Annotated[list[str], Field(description="Client ids to add besides you.")] = [],  # noqa: B006 - FastMCP copies defaults; a list shows best in the schema
    description: Annotated[str, Field(description="What the session is for.")] = "",
) -> SessionDetail:
    """Create a named session with you and the given participants.

    A name already in use is a `conflict` error that shows who created it.
    """
    request = CreateSessionRequest.parse(
        {"name": name, "participants": participants, "description": description}
    )
    return relay_service().create_session(current_caller(), request)


def list_sessions(
    include_closed: Annotated[bool, Field(description="Include closed sessions.")] = False,
) -> ToolResult:
    """Your sessions as a TOON table, newest first, with unread counts."""
    sessions = relay_service().list_sessions(current_caller(), include_closed=include_closed)
    return toon_result(encode_table("sessions", sessions))


def get_session(name: SessionArg) -> SessionDetail:
    """A session you belong to: its participants with last seen time and read position."""
    return relay_service().get_session(current_caller(), name)


def invite(
    session: SessionArg,
    clients: Annotated[list[str], Field(description="Client ids to add.")],
) -> SessionDetail:
    """Add clients to a session you belong to."""
    request = InviteRequest.parse({"clients": clients})
    return relay_service().invite(current_caller(), session, request)


def leave(session: SessionArg) -> ToolResult:
    """Leave a session; you stop receiving its messages."""
    relay_service().leave(current_caller(), session)
    return toon_result(f"left session {session!r}")


def close_session(name: SessionArg) -> SessionDetail:
    """Close a session you created; it stays readable but takes no new messages."""
    return relay_service().close_session(current_caller(), name)

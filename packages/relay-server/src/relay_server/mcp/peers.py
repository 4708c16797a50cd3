"""Tools about who is who: ``whoami``, ``relay_status`` and ``list_peers``."""

from __future__ import annotations

from fastmcp.tools import ToolResult

from relay_core import Status, WhoAmI
from relay_core.toon import encode_table
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import toon_result


def whoami() -> WhoAmI:
    """Your client id as the relay sees it, and how the relay authenticates."""
    return relay_service().whoami(current_caller())


def relay_status() -> Status:
    """The relay's version, uptime, counts and limits, your client id and unread total."""
    return relay_service().status(current_caller())


def list_peers() -> ToolResult:
    """The other clients (TOON): id, seen, shared sessions, presence (live/online/offline)."""
    return toon_result(encode_table("peers", relay_service().list_peers(current_caller())))

"""The search tool: find messages you may read by the words in them or their attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastmcp.tools import ToolResult
from pydantic import Field

from relay_core.search import DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT
from relay_core.toon import encode_search
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import toon_result


def search_messages(
    query: Annotated[
        str,
        Field(description='Words (all must occur), OR, NOT, "a phrase", prefix*.'),
    ],
    session: Annotated[str | None, Field(description="Only this session.")] = None,
    sender: Annotated[str | None, Field(description="Only from this client id.")] = None,
    since: Annotated[datetime | None, Field(description="Only stored at or after (ISO).")] = None,
    limit: Annotated[int, Field(description=f"1-{MAX_SEARCH_LIMIT} hits.")] = DEFAULT_SEARCH_LIMIT,
) -> ToolResult:
    """Search the messages you may read (TOON), best match first, with snippets."""
    results = relay_service().search_messages(
        current_caller(), query, session=session, sender=sender, since=since, limit=limit
    )
    return toon_result(encode_search(results))

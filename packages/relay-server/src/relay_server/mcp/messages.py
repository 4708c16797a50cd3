"""Message tools: send, read a page, wait for new ones, and mark read."""

from __future__ import annotations

from typing import Annotated

from fastmcp.tools import ToolResult
from pydantic import Field

from relay_core import ReadPosition, SendMessageRequest, SentMessage
from relay_core.models import AttachmentRef
from relay_core.toon import encode_messages
from relay_core.wire import DEFAULT_PAGE_SIZE, DEFAULT_WAIT_S, MAX_PAGE_SIZE, MAX_WAIT_S
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import SessionArg, toon_result


def send_message(
    session: SessionArg,
    text: Annotated[str, Field(description="The message (up to 64 KiB of UTF-8).")],
    to: Annotated[
        list[str], Field(description="Only these participants receive it; empty = everyone.")
    ] = [],  # noqa: B006 - FastMCP copies defaults; a list shows best in the schema
    reply_to: Annotated[int | None, Field(description="Id of the message you answer.")] = None,
    attachments: Annotated[
        list[AttachmentRef],
        Field(description="Uploaded files: {sha256, filename, mime?}."),
    ] = [],  # noqa: B006
) -> SentMessage:
    """Send a message to a session you belong to; returns its id."""
    request = SendMessageRequest.parse(
        {"text": text, "to": to, "reply_to": reply_to, "attachments": attachments}
    )
    return relay_service().post_message(current_caller(), session, request)


def read_messages(
    session: SessionArg,
    after_id: Annotated[
        int | None, Field(description="Start after this id; default: your read position.")
    ] = None,
    limit: Annotated[int, Field(description=f"1-{MAX_PAGE_SIZE} messages.")] = DEFAULT_PAGE_SIZE,
    mark_read: Annotated[bool, Field(description="Move your read position.")] = True,
) -> ToolResult:
    """A page of messages (TOON), oldest first; pass next_after_id to continue."""
    page = relay_service().read_messages(current_caller(), session, after_id, limit, mark_read)
    return toon_result(
        encode_messages(page.messages, next_after_id=page.next_after_id, has_more=page.has_more)
    )


async def wait_for_messages(
    session: Annotated[
        str | None, Field(description="One session, or null for all of yours.")
    ] = None,
    after_id: Annotated[
        int | None, Field(description="Only messages after this id; default: unread ones.")
    ] = None,
    timeout_s: Annotated[
        float, Field(description=f"Wait at most this long (0-{MAX_WAIT_S:g} s).")
    ] = DEFAULT_WAIT_S,
) -> ToolResult:
    """Wait until someone else sends you a message, then return it (TOON).

    Returns at once when something is already there. Does not mark messages read.
    """
    caller = current_caller()
    page = await relay_service().wait_for_messages(caller, session, after_id, timeout_s)
    return toon_result(
        encode_messages(
            page.messages,
            next_after_id=page.next_after_id,
            has_more=page.has_more,
            timed_out=page.timed_out,
        )
    )


def mark_read(
    session: SessionArg,
    up_to_id: Annotated[int, Field(description="Messages up to this id count as read.")],
) -> ReadPosition:
    """Move your read position in a session forward."""
    return relay_service().mark_read(current_caller(), session, up_to_id)

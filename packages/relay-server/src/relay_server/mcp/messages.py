"""Message tools: send, read a page, wait for new ones, one message, mark read, and status.

What they answer about messages fits an agent's context (:mod:`.answer_budget`)."""

from __future__ import annotations

from typing import Annotated

from fastmcp.tools import ToolResult
from pydantic import Field

from relay_core import (
    InvalidInput,
    Message,
    MessagePage,
    ReadPosition,
    SendMessageRequest,
    SentMessage,
)
from relay_core.models import AttachmentRef
from relay_core.toon import encode, encode_messages, model_row
from relay_core.wire import DEFAULT_PAGE_SIZE, DEFAULT_WAIT_S, MAX_PAGE_SIZE, MAX_WAIT_S
from relay_server.mcp.answer_budget import chunk, fit
from relay_server.mcp.context import current_caller, relay_service
from relay_server.mcp.tool_forms import SessionArg, toon_result


async def send_message(
    session: SessionArg,
    text: Annotated[str, Field(description="The message (any length; long ones become a file).")],
    to: Annotated[
        list[str], Field(description="Only these participants receive it; empty = everyone.")
    ] = [],  # noqa: B006 - FastMCP copies defaults; a list shows best in the schema
    reply_to: Annotated[int | None, Field(description="Id of the message you answer.")] = None,
    attachments: Annotated[
        list[AttachmentRef],
        Field(description="Uploaded files: {sha256, filename, mime?}."),
    ] = [],  # noqa: B006
    reply_by_s: Annotated[
        float | None, Field(description="You get a bounce naming who has not read it by then.")
    ] = None,
    ttl_s: Annotated[float | None, Field(description="Expire it after this long.")] = None,
) -> SentMessage:
    """Send a message to a session you belong to; returns its id."""
    request = SendMessageRequest.parse(
        {
            "text": text,
            "to": to,
            "reply_to": reply_to,
            "attachments": attachments,
            "reply_by_s": reply_by_s,
            "ttl_s": ttl_s,
        }
    )
    return await relay_service().send_message(current_caller(), session, request)


def read_messages(
    session: SessionArg,
    after_id: Annotated[
        int | None, Field(description="Start after this id; default: your read position.")
    ] = None,
    limit: Annotated[int, Field(description=f"1-{MAX_PAGE_SIZE} messages.")] = DEFAULT_PAGE_SIZE,
    mark_read: Annotated[bool, Field(description="Move your read position.")] = True,
) -> ToolResult:
    """A page of messages (TOON), oldest first; pass next_after_id to continue."""
    service, caller = relay_service(), current_caller()
    page = service.read_messages(caller, session, after_id, limit, mark_read=False, record=False)
    shown, cut = fit(page.messages)
    # What was shown, not what was cut, is read (and so delivered) or delivered.
    if mark_read and shown:
        service.mark_read(caller, session, shown[-1].id)
    else:
        service.record_delivered(caller, shown)
    return _page_answer(page, shown, cut)


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
    service, caller = relay_service(), current_caller()
    page = await service.wait_for_messages(caller, session, after_id, timeout_s, record=False)
    shown, cut = fit(page.messages)
    service.record_delivered(caller, shown)  # noted in memory: written off this path
    return _page_answer(page, shown, cut, timed_out=page.timed_out)


def get_message(
    message_id: Annotated[int, Field(description="The message's id.")],
    offset: Annotated[
        int, Field(description="Where in its text to start (a long text comes in parts).")
    ] = 0,
) -> ToolResult:
    """One message you may read (TOON); a long text a part at a time from offset."""
    message = relay_service().get_message(current_caller(), message_id)
    if not 0 <= offset <= len(message.text):
        raise InvalidInput(f"offset must be between 0 and {len(message.text)}, got {offset}")
    part = chunk(message.text, offset)
    end = offset + len(part)
    row = model_row(message)
    row.update(
        text=part,
        offset=offset,
        next_offset=end if end < len(message.text) else None,
        length=len(message.text),
    )
    return toon_result(encode(row))


def _page_answer(page: MessagePage, shown: list[Message], cut: bool, **extra: object) -> ToolResult:
    """A page as TOON, saying where to read on when it was cut to fit the budget."""
    if not cut:
        return toon_result(
            encode_messages(
                shown, next_after_id=page.next_after_id, has_more=page.has_more, **extra
            )
        )
    last = shown[-1].id
    note = f"ended early to fit your context: read on with after_id={last}"
    return toon_result(
        encode_messages(shown, next_after_id=last, has_more=True, note=note, **extra)
    )


def mark_read(
    session: SessionArg,
    up_to_id: Annotated[int, Field(description="Messages up to this id count as read.")],
) -> ReadPosition:
    """Move your read position in a session forward."""
    return relay_service().mark_read(current_caller(), session, up_to_id)


def message_status(
    message_id: Annotated[int, Field(description="The message's id.")],
) -> ToolResult:
    """Who got and read a message you sent: stored, delivered or read, with times (TOON)."""
    status = relay_service().message_status(current_caller(), message_id)
    rows = [model_row(recipient) for recipient in status.recipients]
    head = model_row(status.model_copy(update={"recipients": []}))
    del head["recipients"]
    return toon_result(encode({**head, "recipients": rows}))

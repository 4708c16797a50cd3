"""Messages: read, send and mark read in a session, fetch one by id or its delivery status,
and wait for new ones."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import MarkReadRequest, SendMessageRequest
from relay_core.wire import API_PREFIX, DEFAULT_PAGE_SIZE, DEFAULT_WAIT_S, MAX_JSON_BODY_BYTES
from relay_server.http.params import (
    caller_of,
    path_int,
    query_float,
    query_int,
    query_optional_int,
    read_body,
)
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of
from relay_server.http.sessions import SESSION_PATH


async def read_messages(request: Request) -> Response:
    """A page of a session's messages, waiting up to ``wait`` seconds for one."""
    page = await service_of(request).read_or_wait(
        caller_of(request),
        request.path_params["name"],
        query_optional_int(request, "after"),
        query_int(request, "limit", DEFAULT_PAGE_SIZE),
        query_float(request, "wait", 0),
    )
    return json_response(page)


async def send_message(request: Request) -> Response:
    """Post a message to a session (a long text, up to the inline upload limit, is taken)."""
    service = service_of(request)
    limit = MAX_JSON_BODY_BYTES + service.limits.inline_file_bytes
    body = await read_body(request, SendMessageRequest, limit)
    name = request.path_params["name"]
    return json_response(await service.send_message(caller_of(request), name, body), 201)


async def mark_read(request: Request) -> Response:
    """Move the caller's read position in a session forward."""
    body = await read_body(request, MarkReadRequest)
    name = request.path_params["name"]
    service = service_of(request)
    return json_response(await run(service.mark_read, caller_of(request), name, body.up_to_id))


async def get_message(request: Request) -> Response:
    """One message the caller may read."""
    message_id = path_int(request, "message_id")
    service = service_of(request)
    return json_response(await run(service.get_message, caller_of(request), message_id))


async def message_status(request: Request) -> Response:
    """Each recipient's delivery state of a message (all of them for its sender)."""
    message_id = path_int(request, "message_id")
    service = service_of(request)
    return json_response(await run(service.message_status, caller_of(request), message_id))


async def wait(request: Request) -> Response:
    """Wait for messages from others in any of the caller's sessions."""
    page = await service_of(request).wait_for_messages(
        caller_of(request),
        None,
        query_optional_int(request, "after"),
        query_float(request, "timeout", DEFAULT_WAIT_S),
        query_int(request, "limit", DEFAULT_PAGE_SIZE),
    )
    return json_response(page)


ROUTES: Final[list[BaseRoute]] = [
    Route(SESSION_PATH + "/messages", read_messages, methods=["GET"]),
    Route(SESSION_PATH + "/messages", send_message, methods=["POST"]),
    Route(SESSION_PATH + "/read", mark_read, methods=["POST"]),
    Route(API_PREFIX + "/messages/{message_id}", get_message, methods=["GET"]),
    Route(API_PREFIX + "/messages/{message_id}/status", message_status, methods=["GET"]),
    Route(API_PREFIX + "/wait", wait, methods=["GET"]),
]

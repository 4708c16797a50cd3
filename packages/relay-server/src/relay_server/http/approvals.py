"""Approvals and client settings: ``/api/v1/settings`` and ``/api/v1/approvals`` (see
docs/http-api.md)."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core.approvals import APPROVALS_PATH, SETTINGS_PATH, AnswerRequest, SettingsUpdate
from relay_core.wire import DEFAULT_PAGE_SIZE
from relay_server.http.params import (
    caller_of,
    path_int,
    query_bool,
    query_float,
    query_int,
    read_body,
)
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of

APPROVAL_PATH: Final = APPROVALS_PATH + "/{approval_id}"


async def get_settings(request: Request) -> Response:
    """The caller's settings: approvers and push allowlist."""
    return json_response(await run(service_of(request).client_settings, caller_of(request)))


async def update_settings(request: Request) -> Response:
    """Change the settings given in the body (others stay as they are)."""
    update = await read_body(request, SettingsUpdate)
    service = service_of(request)
    return json_response(await run(service.update_settings, caller_of(request), update))


async def list_approvals(request: Request) -> Response:
    """Pending approvals (``?history=1``: all) after ``?after_id``; with ``?wait=S`` waits up to
    S seconds for the first one."""
    service, caller = service_of(request), caller_of(request)
    history, after_id = query_bool(request, "history"), query_int(request, "after_id", 0)
    wait_s = query_float(request, "wait", 0.0)
    if wait_s > 0:
        found = await service.wait_approvals(
            caller, history=history, after_id=after_id, timeout_s=wait_s
        )
        return json_response(found)
    limit = query_int(request, "limit", DEFAULT_PAGE_SIZE)
    listed = await run(
        service.list_approvals, caller, history=history, after_id=after_id, limit=limit
    )
    return json_response(listed)


async def get_approval(request: Request) -> Response:
    """One approval with its audit trail."""
    service, approval_id = service_of(request), path_int(request, "approval_id")
    return json_response(await run(service.get_approval, caller_of(request), approval_id))


async def answer_approval(request: Request) -> Response:
    """Allow or deny one approval."""
    answer = await read_body(request, AnswerRequest)
    service, approval_id = service_of(request), path_int(request, "approval_id")
    return json_response(
        await run(service.answer_approval, caller_of(request), approval_id, answer)
    )


ROUTES: Final[list[BaseRoute]] = [
    Route(SETTINGS_PATH, get_settings, methods=["GET"]),
    Route(SETTINGS_PATH, update_settings, methods=["PUT"]),
    Route(APPROVALS_PATH, list_approvals, methods=["GET"]),
    Route(APPROVAL_PATH, get_approval, methods=["GET"]),
    Route(APPROVAL_PATH + "/answer", answer_approval, methods=["POST"]),
]

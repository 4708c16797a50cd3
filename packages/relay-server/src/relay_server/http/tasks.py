"""Tasks: hand off, list, show, claim, update and wait for `/api/v1/tasks` (see docs/tasks.md)."""

from __future__ import annotations

from typing import Any, Final, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import InvalidInput
from relay_core.a2a import to_a2a
from relay_core.tasks import (
    TASKS_PATH,
    ClaimRequest,
    HandoffRequest,
    TaskState,
    UpdateTaskRequest,
)
from relay_core.wire import DEFAULT_PAGE_SIZE, DEFAULT_WAIT_S
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
from relay_server.http.sessions import SESSION_PATH

TASK_PATH: Final = TASKS_PATH + "/{task_id}"


async def handoff_task(request: Request) -> Response:
    """Give a new task in a session."""
    body = await read_body(request, HandoffRequest)
    name = request.path_params["name"]
    service = service_of(request)
    return json_response(await run(service.handoff_task, caller_of(request), name, body), 201)


async def list_tasks(request: Request) -> Response:
    """The caller's tasks: ``?session=&state=&mine=&limit=``."""
    state = request.query_params.get("state") or None
    tasks = await run(
        service_of(request).list_tasks,
        caller_of(request),
        request.query_params.get("session") or None,
        cast("TaskState | None", state),
        query_bool(request, "mine"),
        query_int(request, "limit", DEFAULT_PAGE_SIZE),
    )
    return json_response({"tasks": [t.model_dump(mode="json") for t in tasks]})


async def get_task(request: Request) -> Response:
    """One task; ``?format=a2a`` answers it as an A2A Task."""
    form = request.query_params.get("format", "relay")
    if form not in ("relay", "a2a"):
        raise InvalidInput(f"format must be relay or a2a, got {form!r}")
    task_id = path_int(request, "task_id")
    task = await run(service_of(request).get_task, caller_of(request), task_id)
    body: Any = to_a2a(task, str(request.base_url)) if form == "a2a" else task
    return json_response(body)


async def claim_task(request: Request) -> Response:
    """Claim a submitted task."""
    body = await read_body(request, ClaimRequest)
    task_id = path_int(request, "task_id")
    service = service_of(request)
    return json_response(await run(service.claim_task, caller_of(request), task_id, body))


async def update_task(request: Request) -> Response:
    """Move a task to another state, or add a note."""
    body = await read_body(request, UpdateTaskRequest)
    task_id = path_int(request, "task_id")
    service = service_of(request)
    return json_response(await run(service.update_task, caller_of(request), task_id, body))


async def wait_for_task(request: Request) -> Response:
    """Wait until a task is in one of ``?until=a,b`` (default: input-required or final)."""
    until = [s for s in request.query_params.get("until", "").split(",") if s]
    waited = await service_of(request).wait_for_task(
        caller_of(request),
        path_int(request, "task_id"),
        cast("list[TaskState]", until),
        query_float(request, "timeout", DEFAULT_WAIT_S),
    )
    return json_response(waited)


ROUTES: Final[list[BaseRoute]] = [
    Route(SESSION_PATH + "/tasks", handoff_task, methods=["POST"]),
    Route(TASKS_PATH, list_tasks, methods=["GET"]),
    Route(TASK_PATH, get_task, methods=["GET"]),
    Route(TASK_PATH, update_task, methods=["PATCH"]),
    Route(TASK_PATH + "/claim", claim_task, methods=["POST"]),
    Route(TASK_PATH + "/wait", wait_for_task, methods=["GET"]),
]

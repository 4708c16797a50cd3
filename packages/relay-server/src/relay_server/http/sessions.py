"""Sessions: list, create, show, close, invite to and leave ``/api/v1/sessions/{name}``."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import CreateSessionRequest, InviteRequest
from relay_core.wire import API_PREFIX
from relay_server.http.params import caller_of, query_bool, read_body
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of

SESSION_PATH: Final = API_PREFIX + "/sessions/{name}"


async def list_sessions(request: Request) -> Response:
    """The caller's sessions (closed ones too with ``include_closed``)."""
    service = service_of(request)
    sessions = await run(
        service.list_sessions, caller_of(request), query_bool(request, "include_closed")
    )
    return json_response({"sessions": [s.model_dump(mode="json") for s in sessions]})


async def create_session(request: Request) -> Response:
    """A new session with the caller in it."""
    body = await read_body(request, CreateSessionRequest)
    service = service_of(request)
    return json_response(await run(service.create_session, caller_of(request), body), 201)


async def get_session(request: Request) -> Response:
    """One session the caller belongs to."""
    name = request.path_params["name"]
    return json_response(await run(service_of(request).get_session, caller_of(request), name))


async def close_session(request: Request) -> Response:
    """Close a session the caller created."""
    name = request.path_params["name"]
    return json_response(await run(service_of(request).close_session, caller_of(request), name))


async def invite(request: Request) -> Response:
    """Add clients to a session."""
    body = await read_body(request, InviteRequest)
    name = request.path_params["name"]
    return json_response(await run(service_of(request).invite, caller_of(request), name, body))


async def leave(request: Request) -> Response:
    """The caller leaves a session."""
    await run(service_of(request).leave, caller_of(request), request.path_params["name"])
    return Response(status_code=204)


ROUTES: Final[list[BaseRoute]] = [
    Route(API_PREFIX + "/sessions", list_sessions, methods=["GET"]),
    Route(API_PREFIX + "/sessions", create_session, methods=["POST"]),
    Route(SESSION_PATH, get_session, methods=["GET"]),
    Route(SESSION_PATH, close_session, methods=["DELETE"]),
    Route(SESSION_PATH + "/invite", invite, methods=["POST"]),
    Route(SESSION_PATH + "/leave", leave, methods=["POST"]),
]

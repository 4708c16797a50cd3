"""Roles: claim (``PUT``) and release (``DELETE``) ``/api/v1/sessions/{name}/roles/{role}``."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_server.http.params import caller_of
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of
from relay_server.http.sessions import SESSION_PATH

ROLE_PATH: Final = SESSION_PATH + "/roles/{role}"


async def claim_role(request: Request) -> Response:
    """Make the caller the role's holder; the answer lists messages held for the role."""
    service = service_of(request)
    name, role = request.path_params["name"], request.path_params["role"]
    return json_response(await run(service.claim_role, caller_of(request), name, role))


async def release_role(request: Request) -> Response:
    """The caller gives the role up."""
    service = service_of(request)
    name, role = request.path_params["name"], request.path_params["role"]
    return json_response(await run(service.release_role, caller_of(request), name, role))


ROUTES: Final[list[BaseRoute]] = [
    Route(ROLE_PATH, claim_role, methods=["PUT"]),
    Route(ROLE_PATH, release_role, methods=["DELETE"]),
]

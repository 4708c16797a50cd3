"""Who is who: ``/api/v1/status``, ``/api/v1/whoami`` and ``/api/v1/peers``."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core.wire import API_PREFIX
from relay_server.http.params import caller_of
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of


async def status(request: Request) -> Response:
    """The relay's counts and limits, and the caller's unread total."""
    return json_response(await run(service_of(request).status, caller_of(request)))


async def whoami(request: Request) -> Response:
    """The caller's client id and how the relay authenticates."""
    return json_response(await run(service_of(request).whoami, caller_of(request)))


async def list_peers(request: Request) -> Response:
    """The other clients and the sessions the caller shares with them."""
    peers = await run(service_of(request).list_peers, caller_of(request))
    return json_response({"peers": [p.model_dump(mode="json") for p in peers]})


ROUTES: Final[list[BaseRoute]] = [
    Route(API_PREFIX + "/status", status, methods=["GET"]),
    Route(API_PREFIX + "/whoami", whoami, methods=["GET"]),
    Route(API_PREFIX + "/peers", list_peers, methods=["GET"]),
]

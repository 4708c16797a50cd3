"""``GET /healthz``: the one route that needs no token, for load balancers and ``status``."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import Health
from relay_core.wire import HEALTH_PATH
from relay_server.http.responses import json_response
from relay_server.http.service_calls import service_of


async def healthz(request: Request) -> Response:
    """The relay is up: its version and uptime."""
    service = service_of(request)
    return json_response(Health(status="ok", version=service.version, uptime_s=service.uptime_s()))


ROUTES: Final[list[BaseRoute]] = [Route(HEALTH_PATH, healthz, methods=["GET"])]

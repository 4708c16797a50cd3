"""``POST /api/v1/join``: a join code exchanged for this client's token, without a token; and
``GET /api/v1/join/ca``: the relay's own CA certificate, for clients to pin (404 without TLS).

The body is ``{"code": "K7QM-4TZP-X2HD", "client_id": "alice-laptop"}`` (``client_id`` optional
when the code fixes it); the answer ``{"client_id", "token", "auth_mode"}``. The code travels in
the body, never in the URL, so no access log or proxy log holds it. Refusals: ``401`` for a wrong
code, ``429`` after too many, ``409`` when the client id is taken (the code is kept).
"""

from __future__ import annotations

from typing import Final

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import RequestModel
from relay_core.wire import JOIN_CA_PATH, JOIN_PATH
from relay_server.http.params import read_body
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of


class JoinRequest(RequestModel):
    """The body of ``POST /api/v1/join``."""

    code: str = Field(max_length=64)
    client_id: str | None = Field(default=None, max_length=64)


async def join(request: Request) -> Response:
    """Exchange a join code for a token (single use; wrong codes are counted and logged)."""
    body = await read_body(request, JoinRequest)
    source = request.client.host if request.client else "unknown"
    joined = await run(
        lambda: service_of(request).exchange_join_code(
            body.code, client_id=body.client_id, source=source
        )
    )
    answer = json_response(
        {"client_id": joined.client_id, "token": joined.token, "auth_mode": joined.auth_mode}
    )
    answer.headers["Cache-Control"] = "no-store"  # it holds a token
    return answer


async def join_ca(request: Request) -> Response:
    """The relay's own CA certificate (public), which a client pins before sending a code."""
    pem = await run(service_of(request).tls_ca_certificate)
    return Response(pem, media_type="application/x-pem-file")


ROUTES: Final[list[BaseRoute]] = [
    Route(JOIN_PATH, join, methods=["POST"]),
    Route(JOIN_CA_PATH, join_ca, methods=["GET"]),
]

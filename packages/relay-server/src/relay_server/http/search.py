"""Search: ``GET /api/v1/search?q=...`` over the messages the caller may read."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import InvalidInput
from relay_core.search import DEFAULT_SEARCH_LIMIT, SEARCH_PATH
from relay_server.http.params import caller_of, query_int
from relay_server.http.responses import json_response
from relay_server.http.service_calls import run, service_of


async def search(request: Request) -> Response:
    """The best matches first for ``q``; optional ``session``, ``sender``, ``since``, ``limit``."""
    params = request.query_params
    results = await run(
        service_of(request).search_messages,
        caller_of(request),
        params.get("q", ""),
        session=params.get("session"),
        sender=params.get("sender"),
        since=_time(params.get("since")),
        limit=query_int(request, "limit", DEFAULT_SEARCH_LIMIT),
    )
    return json_response(results)


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"since must be an ISO 8601 time, got {value!r}") from None


ROUTES: Final[list[BaseRoute]] = [Route(SEARCH_PATH, search, methods=["GET"])]

"""The HTTP adapter: ``/healthz`` and the JSON API under ``/api/v1`` (see docs/http-api.md).

Handlers parse the request, call one :class:`RelayService` method in a worker thread and answer
with the relay-core model as JSON. Errors are turned into ``{"error": {code, message}}`` answers
in one place, the ``exception_handlers`` table at the bottom.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay_core import (
    CreateSessionRequest,
    Health,
    InvalidInput,
    InviteRequest,
    MarkReadRequest,
    NotFound,
    RelayError,
    RequestModel,
    SendMessageRequest,
    TooLarge,
)
from relay_core.errors import shown
from relay_core.wire import (
    API_PREFIX,
    DEFAULT_PAGE_SIZE,
    DEFAULT_WAIT_S,
    HEALTH_PATH,
    MAX_JSON_BODY_BYTES,
)
from relay_server.request_scope import CALLER_SCOPE_KEY
from relay_server.service import RelayService

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=RequestModel)


def json_response(body: BaseModel | dict[str, Any], status_code: int = 200) -> Response:
    """A JSON answer; models are serialised by pydantic (timestamps as ``...Z``)."""
    if isinstance(body, BaseModel):
        content = body.model_dump_json().encode()
    else:
        content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status_code, media_type="application/json")


def caller_of(request: Request) -> str:
    """The client id the auth middleware resolved."""
    return request.scope[CALLER_SCOPE_KEY]


async def run(function: Callable[..., T], *args: Any) -> T:
    """Run a short, blocking service call in a worker thread."""
    return await anyio.to_thread.run_sync(partial(function, *args))


async def read_body(request: Request, model: type[M]) -> M:
    """Parse a JSON body of at most ``MAX_JSON_BODY_BYTES`` into ``model``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_JSON_BODY_BYTES:
        raise TooLarge(f"request body is {declared} bytes; the limit is {MAX_JSON_BODY_BYTES}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_JSON_BODY_BYTES:
                raise TooLarge(f"request body is over the limit of {MAX_JSON_BODY_BYTES} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # the client left (or stalled and was cut off): no one to answer
        raise InvalidInput(f"request body was cut off after {size} bytes") from None
    raw = b"".join(chunks)
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:  # bad JSON or UTF-8, or an integer past 4300 digits
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput("request body is nested too deeply to be a relay request") from None
    return model.parse(data)


def query_optional_int(request: Request, name: str) -> int | None:
    """An integer query parameter, or None when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name!r} must be an integer, got {raw!r}") from None


def path_int(request: Request, name: str) -> int:
    """An integer path parameter (Starlette's ``:int`` would fail with a 500 past 4300 digits)."""
    raw = request.path_params[name]
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, got {shown(raw)}") from None


def query_int(request: Request, name: str, default: int) -> int:
    """An integer query parameter, or ``default`` when absent."""
    value = query_optional_int(request, name)
    return default if value is None else value


def query_float(request: Request, name: str, default: float) -> float:
    """A number query parameter, or ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name!r} must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"query parameter {name!r} must be a finite number")
    return value


def query_bool(request: Request, name: str) -> bool:
    """A boolean query parameter (``true``/``1``/``yes``)."""
    return request.query_params.get(name, "").lower() in {"1", "true", "yes"}


def build_http_api(service: RelayService, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The Starlette app serving ``/healthz``, ``/api/v1/...`` and any ``extra_routes``."""

    async def healthz(request: Request) -> Response:
        return json_response(
            Health(status="ok", version=service.version, uptime_s=service.uptime_s())
        )

    async def status(request: Request) -> Response:
        return json_response(await run(service.status, caller_of(request)))

    async def whoami(request: Request) -> Response:
        return json_response(await run(service.whoami, caller_of(request)))

    async def list_sessions(request: Request) -> Response:
        sessions = await run(
            service.list_sessions, caller_of(request), query_bool(request, "include_closed")
        )
        return json_response({"sessions": [s.model_dump(mode="json") for s in sessions]})

    async def create_session(request: Request) -> Response:
        body = await read_body(request, CreateSessionRequest)
        return json_response(await run(service.create_session, caller_of(request), body), 201)

    async def get_session(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(await run(service.get_session, caller_of(request), name))

    async def close_session(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(await run(service.close_session, caller_of(request), name))

    async def invite(request: Request) -> Response:
        body = await read_body(request, InviteRequest)
        name = request.path_params["name"]
        return json_response(await run(service.invite, caller_of(request), name, body))

    async def leave(request: Request) -> Response:
        await run(service.leave, caller_of(request), request.path_params["name"])
        return Response(status_code=204)

    async def read_messages(request: Request) -> Response:
        page = await service.read_or_wait(
            caller_of(request),
            request.path_params["name"],
            query_optional_int(request, "after"),
            query_int(request, "limit", DEFAULT_PAGE_SIZE),
            query_float(request, "wait", 0),
        )
        return json_response(page)

    async def send_message(request: Request) -> Response:
        body = await read_body(request, SendMessageRequest)
        name = request.path_params["name"]
        return json_response(await run(service.post_message, caller_of(request), name, body), 201)

    async def mark_read(request: Request) -> Response:
        body = await read_body(request, MarkReadRequest)
        name = request.path_params["name"]
        return json_response(await run(service.mark_read, caller_of(request), name, body.up_to_id))

    async def get_message(request: Request) -> Response:
        message_id = path_int(request, "message_id")
        return json_response(await run(service.get_message, caller_of(request), message_id))

    async def wait(request: Request) -> Response:
        page = await service.wait_for_messages(
            caller_of(request),
            None,
            query_optional_int(request, "after"),
            query_float(request, "timeout", DEFAULT_WAIT_S),
            query_int(request, "limit", DEFAULT_PAGE_SIZE),
        )
        return json_response(page)

    async def list_peers(request: Request) -> Response:
        peers = await run(service.list_peers, caller_of(request))
        return json_response({"peers": [p.model_dump(mode="json") for p in peers]})

    session = API_PREFIX + "/sessions/{name}"
    routes: list[BaseRoute] = [
        Route(HEALTH_PATH, healthz, methods=["GET"]),
        Route(API_PREFIX + "/status", status, methods=["GET"]),
        Route(API_PREFIX + "/whoami", whoami, methods=["GET"]),
        Route(API_PREFIX + "/sessions", list_sessions, methods=["GET"]),
        Route(API_PREFIX + "/sessions", create_session, methods=["POST"]),
        Route(session, get_session, methods=["GET"]),
        Route(session, close_session, methods=["DELETE"]),
        Route(session + "/invite", invite, methods=["POST"]),
        Route(session + "/leave", leave, methods=["POST"]),
        Route(session + "/messages", read_messages, methods=["GET"]),
        Route(session + "/messages", send_message, methods=["POST"]),
        Route(session + "/read", mark_read, methods=["POST"]),
        Route(API_PREFIX + "/messages/{message_id}", get_message, methods=["GET"]),
        Route(API_PREFIX + "/wait", wait, methods=["GET"]),
        Route(API_PREFIX + "/peers", list_peers, methods=["GET"]),
        *(extra_routes or []),
    ]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)


# --- the one place errors become HTTP answers ---------------------------------------------


async def _relay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayError)
    headers = {"WWW-Authenticate": 'Bearer realm="agent-relay"'} if exc.http_status == 401 else {}
    response = json_response(exc.to_payload(), exc.http_status)
    response.headers.update(headers)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: RelayError = NotFound(f"no route {request.method} {request.url.path}")
    else:
        error = InvalidInput(f"{request.method} {request.url.path}: {exc.detail}")
    response = json_response(error.to_payload(), exc.status_code)
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %r failed", request.method, request.url.path, exc_info=exc)
    body = {"error": {"code": "internal", "message": "unexpected error; the relay's log has it"}}
    return json_response(body, 500)


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    RelayError: _relay_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}

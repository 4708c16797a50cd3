"""Reading a request: who called, its JSON body and its path and query parameters.

Bad input raises :class:`~relay_core.InvalidInput` (or :class:`~relay_core.TooLarge` for a body
over the limit), which the error table answers.
"""

from __future__ import annotations

import json
from typing import TypeVar

from starlette.requests import ClientDisconnect, Request

from relay_core import InvalidInput, RequestModel, TooLarge
from relay_core.errors import shown
from relay_core.wire import MAX_JSON_BODY_BYTES
from relay_server.request_scope import CALLER_SCOPE_KEY

M = TypeVar("M", bound=RequestModel)


def caller_of(request: Request) -> str:
    """The client id the auth middleware resolved."""
    caller: str = request.scope[CALLER_SCOPE_KEY]
    return caller


async def read_body(request: Request, model: type[M], limit: int = MAX_JSON_BODY_BYTES) -> M:
    """Parse a JSON body of at most ``limit`` bytes into ``model``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body is over the limit of {limit} bytes")
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

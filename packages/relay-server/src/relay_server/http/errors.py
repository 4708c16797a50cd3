"""The one place a relay error becomes an HTTP answer: ``{"error": {code, message, details?}}``.

Route handlers raise; the :data:`EXCEPTION_HANDLERS` table answers. Middlewares that refuse a
request before any route runs (authentication, the rate limit, the inline-upload budget, the
Host/Origin guard's rewrite) send the same answer with :func:`send_error`, and the slow-client
protocol writes :func:`error_body` itself. A ``401`` says how to authenticate here and only here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from relay_core import InvalidInput, NotFound, RelayError

log = logging.getLogger(__name__)

WWW_AUTHENTICATE: Final = 'Bearer realm="agent-relay"'
"""What a ``401`` answer says about how to authenticate."""


def error_body(error: RelayError) -> bytes:
    """The JSON body of an answer carrying ``error``, in ``json.dumps``' default spacing
    (``{"error": {"code": "invalid", ...}}``), which clients and tests have always seen from the
    refusals sent before any route runs."""
    return json.dumps(error.to_payload()).encode()


def error_response(
    error: RelayError, status: int | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """The answer for ``error``: its own HTTP status unless ``status`` is given, JSON,
    ``WWW-Authenticate`` on a ``401`` and ``Content-Range: bytes */SIZE`` on a ``416`` (from
    ``details["size"]``); ``headers`` are added before the ``Content-Range``."""
    status_code = status or error.http_status
    body = error_body(error)
    fields = {"content-type": "application/json", "content-length": str(len(body))}
    if status_code == 401:
        fields["www-authenticate"] = WWW_AUTHENTICATE
    fields.update({name.lower(): value for name, value in (headers or {}).items()})
    if status_code == 416 and "size" in error.details:
        fields["content-range"] = f"bytes */{error.details['size']}"
    return Response(body, status_code=status_code, headers=fields)


async def _no_body() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def send_error(
    scope: Scope,
    send: Send,
    error: RelayError,
    headers: Mapping[str, str] | None = None,
    *,
    status: int | None = None,
) -> None:
    """Answer an ASGI HTTP request with :func:`error_response` (for middlewares, which answer
    before reading the request's body)."""
    await error_response(error, status, headers)(scope, _no_body, send)


async def _relay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: RelayError = NotFound(f"no route {request.method} {request.url.path}")
    else:
        error = InvalidInput(f"{request.method} {request.url.path}: {exc.detail}")
    return error_response(error, exc.status_code, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %r failed", request.method, request.url.path, exc_info=exc)
    return error_response(RelayError("unexpected error; the relay's log has it"))


EXCEPTION_HANDLERS: Final[dict[Any, Callable[[Request, Exception], Any]]] = {
    RelayError: _relay_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
"""Starlette's ``exception_handlers`` for every app that serves relay routes."""

"""The one translation point for tool errors, and one access-log line per tool call.

A relay error reaches the agent as ``code: message`` (:func:`translated`, applied to every tool);
argument errors and unknown tools are worded the same way, and anything else is masked by
FastMCP and logged (:class:`ToolCalls`).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from fastmcp.exceptions import NotFoundError, ToolError
from fastmcp.exceptions import ValidationError as ArgumentError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult
from mcp.types import CallToolRequestParams
from pydantic import ValidationError

from relay_core import RelayError
from relay_core.errors import (
    ERROR_CLASSES,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    describe_validation_error,
    shown,
)
from relay_server.mcp.context import caller_or_none
from relay_server.middleware.access_log import log_call

F = TypeVar("F", bound=Callable[..., Any])
ERROR_CODES = frozenset(ERROR_CLASSES)


def translated(function: F) -> F:
    """Wrap a tool so a RelayError reaches the agent as ``code: message``.

    FastMCP passes a ToolError through unmasked and without a traceback in the log; every
    other exception it masks as "Error calling tool", which :class:`ToolCalls` reports as
    ``internal``.
    """
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await function(*args, **kwargs)
            except RelayError as error:
                raise ToolError(error.to_text()) from None

        return cast(F, run_async)

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RelayError as error:
            raise ToolError(error.to_text()) from None

    return cast(F, run)


class ToolCalls(Middleware):
    """Logs every tool call, and words argument errors and unknown tools like relay errors."""

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        started = time.perf_counter()
        outcome = "ok"
        arguments = context.message.arguments or {}
        try:
            return await call_next(context)
        except ArgumentError as error:
            outcome = INVALID
            cause = error.__cause__
            detail = (
                describe_validation_error(cause)
                if isinstance(cause, ValidationError)
                else str(error)
            )
            raise ToolError(f"{INVALID}: {detail}") from None
        except NotFoundError:
            outcome = NOT_FOUND
            raise ToolError(
                f"{NOT_FOUND}: the relay has no tool {shown(context.message.name)}"
            ) from None
        except ToolError as error:
            code, _, rest = str(error).partition(": ")
            outcome = code if rest and code in ERROR_CODES else INTERNAL
            raise
        except Exception:
            outcome = INTERNAL
            raise
        finally:
            log_call(
                client=caller_or_none(),
                operation=context.message.name,
                session=arguments.get("session") or arguments.get("name"),
                outcome=outcome,
                started=started,
                via="mcp",
            )

"""What a tool reads from its MCP request: the relay service, and the caller auth resolved.

The service is the one the server was built with: :func:`~relay_server.mcp.server.build_mcp_server`
puts it in the server's lifespan context under :data:`SERVICE_KEY`, which FastMCP hands every
tool call through its :class:`~fastmcp.Context`.
"""

from __future__ import annotations

from typing import Final

from fastmcp.server.dependencies import get_context, get_http_request

from relay_core import RelayError, Unauthorized
from relay_server.request_scope import CALLER_SCOPE_KEY
from relay_server.service import RelayService

SERVICE_KEY: Final = "relay_service"
"""The key of the service in the MCP server's lifespan context."""


def relay_service() -> RelayService:
    """The relay service of the MCP server running the current tool call."""
    service: RelayService = get_context().lifespan_context[SERVICE_KEY]
    return service


def current_caller() -> str:
    """The client id the auth middleware resolved for this MCP request."""
    try:
        request = get_http_request()
    except RuntimeError:
        raise Unauthorized("no HTTP request: the relay serves MCP over HTTP only") from None
    caller = request.scope.get(CALLER_SCOPE_KEY)
    if not caller:
        raise Unauthorized("the caller was not authenticated")
    return str(caller)


def caller_or_none() -> str | None:
    """The authenticated caller of the current MCP request, if there is one."""
    try:
        return current_caller()
    except RelayError:
        return None

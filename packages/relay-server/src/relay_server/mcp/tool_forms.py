"""What the tool modules share: behaviour hints, the session argument, the TOON text answer."""

from __future__ import annotations

from typing import Annotated, Final

from fastmcp.tools import ToolResult
from mcp.types import TextContent, ToolAnnotations
from pydantic import Field

READ_ONLY: Final = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
WRITES: Final = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
IDEMPOTENT_WRITE: Final = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

SessionArg = Annotated[str, Field(description="Session name.")]


def toon_result(text: str) -> ToolResult:
    """A plain-text tool answer (no structured copy, which would double the tokens)."""
    return ToolResult(content=[TextContent(type="text", text=text)])

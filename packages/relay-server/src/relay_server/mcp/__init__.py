"""The MCP adapter: the relay's tools over FastMCP, live channel push, and the ``/mcp`` guards.

Tools are module-level functions, one module per feature (:mod:`.sessions`, :mod:`.messages`,
:mod:`.files`, :mod:`.peers`); :mod:`.server` registers them. A tool finds the service and its
caller through :mod:`.context`, and its errors reach the agent through :mod:`.tool_calls`.
"""

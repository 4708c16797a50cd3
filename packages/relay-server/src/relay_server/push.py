"""Live push: new messages sent to live MCP connections as Claude Code channel events.

Every MCP connection with a standalone stream (the handshake era's GET stream, which Claude Code
opens) gets one pump task, keyed by the *authenticated client*, never by MCP session id. The pump
shares the long-poll's wake-up path: it subscribes to the event hub, and when woken reads what is
new for its client with :meth:`RelayService.poll` from its own cursor, so a message is pushed once
per connection, in id order, even when events arrive out of order. Push is best-effort on top of
the durable store: whatever a client missed, it reads with ``read_messages``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import anyio
from fastmcp.server.dependencies import fastmcp_request_ctx
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp.server.connection import Connection
from mcp.server.session import ServerSession

from relay_core import Message, RelayError
from relay_core.wire import MAX_PAGE_SIZE
from relay_server.events import EventHub
from relay_server.service import RelayService

log = logging.getLogger(__name__)

CHANNEL_CAPABILITY: Final = "claude/channel"
CHANNEL_METHOD: Final = "notifications/claude/channel"
_PUMP_STATE_KEY: Final = "relay.push"


def channel_params(message: Message) -> dict[str, Any]:
    """The ``notifications/claude/channel`` params for a message: content and string meta."""
    lines = [message.text]
    lines += [
        f"[attachment: {a.filename} ({a.size} bytes, sha256 {a.sha256})]"
        for a in message.attachments
    ]
    meta = {"session": message.session, "from": message.sender, "message_id": str(message.id)}
    if message.reply_to is not None:
        meta["reply_to"] = str(message.reply_to)
    if message.to:
        meta["to"] = " ".join(message.to)
    return {"content": "\n".join(lines), "meta": meta}


def connection_of(session: ServerSession) -> Connection | None:
    """The Connection behind a request's ServerSession.

    mcp 2.3 keeps it private on the session; FastMCP exposes no public route to the
    connection-scoped channel or its teardown stack. This is the one place that reaches in.
    """
    connection = getattr(session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


class LivePush:
    """Runs one pump per live MCP connection and stops it when the connection closes."""

    def __init__(self, service: RelayService, hub: EventHub) -> None:
        self.service = service
        self.hub = hub
        self.pumps = 0

    def attach(self, caller: str, connection: Connection) -> None:
        """Start pushing to ``connection`` for ``caller`` (idempotent per connection)."""
        if not connection.has_standalone_channel or _PUMP_STATE_KEY in connection.state:
            return
        task = asyncio.get_running_loop().create_task(self._pump(caller, connection))
        connection.state[_PUMP_STATE_KEY] = task
        connection.exit_stack.callback(task.cancel)

    async def _pump(self, caller: str, connection: Connection) -> None:
        woken = asyncio.Event()
        unsubscribe = self.hub.subscribe([caller], lambda _: woken.set())
        self.pumps += 1
        try:
            cursor = await anyio.to_thread.run_sync(self.service.latest_message_id)
            while True:
                await woken.wait()
                woken.clear()
                cursor = await self._push_new(caller, connection, cursor)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live push to %s stopped", caller)
        finally:
            self.pumps -= 1
            unsubscribe()

    async def _push_new(self, caller: str, connection: Connection, cursor: int) -> int:
        while True:
            try:
                page = await anyio.to_thread.run_sync(
                    self.service.poll, caller, None, cursor, MAX_PAGE_SIZE
                )
            except RelayError:  # e.g. the client was removed; nothing to push
                return cursor
            for message in page.messages:
                await connection.outbound.notify(CHANNEL_METHOD, channel_params(message))
            cursor = page.next_after_id or cursor
            if not page.has_more:
                return cursor


class PushRegistration(Middleware):
    """Attaches every authenticated MCP connection that has a standalone stream to LivePush."""

    def __init__(self, push: LivePush, caller_of_request: Any) -> None:
        self.push = push
        self.caller_of_request = caller_of_request

    async def on_message(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        request_context = fastmcp_request_ctx.get()
        if request_context is not None:
            connection = connection_of(request_context.session)
            caller = self.caller_of_request()
            if connection is not None and caller:
                self.push.attach(caller, connection)
        return await call_next(context)

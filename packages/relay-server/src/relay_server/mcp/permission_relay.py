"""Claude Code's permission relay over MCP: the capability, the prompts in, the answers out.

- ``initialize``: a client with approvers is told ``experimental["claude/channel/permission"]``
  (beside ``claude/channel``); one without is not, so its Claude Code never relays a prompt.
  Capabilities are per connection: the answer is built for the authenticated caller.
- ``notifications/claude/channel/permission_request`` from a connection becomes an approval
  (:meth:`~relay_server.service.RelayService.request_approval`); the connection is remembered
  as the one to answer, for as long as it stays open.
- A new approval is pushed as a channel event into its approvers' live connections (those whose
  push allowlist takes the requester); an answered one goes back to the connection that asked,
  once, as ``notifications/claude/channel/permission`` ``{request_id, behavior}``, followed by a
  channel event saying who decided what.

Claude Code never tells a channel server that a prompt was answered at its terminal (2.1.330
sends only the request); an approver's later answer is then ignored by Claude Code.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
from fastmcp.server.dependencies import fastmcp_request_ctx
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp.server.connection import Connection

from relay_core import RelayError
from relay_core.approvals import (
    PERMISSION_CAPABILITY,
    PERMISSION_METHOD,
    PERMISSION_REQUEST_METHOD,
    Approval,
)
from relay_server.mcp.approval_event import (
    approval_request_params,
    decision_params,
    permission_params,
)
from relay_server.mcp.context import caller_or_none
from relay_server.mcp.push import CHANNEL_METHOD, LivePush, connection_of
from relay_server.service import RelayService
from relay_server.service.approvals import ApprovalNews, PermissionPrompt

log = logging.getLogger(__name__)


class PermissionRelay(Middleware):
    """Declares the permission capability per caller, takes prompts in, sends answers back."""

    def __init__(self, service: RelayService, push: LivePush) -> None:
        self.service = service
        self.push = push
        self.askers: dict[int, Connection] = {}
        """Approval id -> the open connection whose Claude Code asked."""
        self._tasks: set[asyncio.Task[None]] = set()
        service.on_approval(self._heard)
        service.attach_prompt_routes(self)

    def can_answer(self, approval_id: int) -> bool:
        """Whether the connection that asked is still open here."""
        return approval_id in self.askers

    async def on_initialize(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        result = await call_next(context)
        caller = caller_or_none()
        if result is None or not caller:
            return result
        settings = await anyio.to_thread.run_sync(self.service.client_settings, caller)
        if not settings.approvers:
            return result
        capabilities = result.capabilities
        experimental = {**(capabilities.experimental or {}), PERMISSION_CAPABILITY: {}}
        return result.model_copy(
            update={"capabilities": capabilities.model_copy(update={"experimental": experimental})}
        )

    async def on_notification(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        if context.method == PERMISSION_REQUEST_METHOD:
            await self._asked(context.message)
        return await call_next(context)

    async def _asked(self, params: Any) -> None:
        request_context = fastmcp_request_ctx.get()
        caller = caller_or_none()
        connection = connection_of(request_context.session) if request_context else None
        if not caller or connection is None or not isinstance(params, dict):
            return
        prompt = PermissionPrompt(
            request_id=str(params.get("request_id", "")),
            tool_name=str(params.get("tool_name", "")),
            description=str(params.get("description", "")),
            input_preview=str(params.get("input_preview", "")),
        )
        session_id = connection.session_id or ""
        try:
            approval = await anyio.to_thread.run_sync(
                self.service.request_approval, caller, session_id, prompt
            )
        except RelayError as exc:
            log.warning("permission request %r of %s refused: %s", prompt.request_id, caller, exc)
            return
        self.askers[approval.id] = connection
        connection.exit_stack.callback(self.askers.pop, approval.id, None)

    def _heard(self, approval: Approval, news: ApprovalNews) -> None:
        work = self._to_approvers(approval) if news == "requested" else self._to_asker(approval)
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _to_approvers(self, approval: Approval) -> None:
        params = approval_request_params(approval)
        for approver in approval.approvers:
            try:
                if await self.push.allows(approver, approval.requester):
                    await self.push.notify_client(approver, CHANNEL_METHOD, params)
            except Exception:  # one approver's broken stream must not keep the others waiting
                log.exception("could not push approval %d to %s", approval.id, approver)

    async def _to_asker(self, approval: Approval) -> None:
        connection = self.askers.pop(approval.id, None)  # popped: the answer goes out once
        if connection is None:
            return
        try:
            await connection.outbound.notify(PERMISSION_METHOD, permission_params(approval))
            await connection.outbound.notify(CHANNEL_METHOD, decision_params(approval))
        except Exception:
            log.exception("could not send the answer to approval %d", approval.id)

"""Approvals: a client's Claude Code asks its approvers, on other machines, to allow a tool call.

A prompt becomes a durable :class:`~relay_core.approvals.Approval` the moment it arrives; the
requester's approvers (a snapshot taken then) see it at once and one of them answers it, once.
Every request, answer and refused answer is kept in its audit trail. The service decides and
stores; what reaches Claude Code is the adapter's job, told through :meth:`on_approval`.

Also here: each client's settings (its approvers, and whose messages are pushed into its live
sessions), with the push allowlist cached so the push path reads no database per message.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, Protocol

import anyio

from relay_core import Conflict, Forbidden, InvalidInput, NotFound, Unavailable, now_ms
from relay_core.approvals import (
    APPROVAL_TTL_S,
    MAX_PREVIEW_CHARS,
    MAX_TOOL_CHARS,
    AnswerRequest,
    Approval,
    ApprovalEvent,
    ApprovalList,
    ApprovalState,
    ClientSettings,
    SettingsUpdate,
)
from relay_core.timestamps import from_ms
from relay_core.wire import MAX_DESCRIPTION_CHARS, MAX_PAGE_SIZE
from relay_server.service import bounds
from relay_server.service.base import ServiceBase
from relay_server.storage import approvals, clients
from relay_server.storage.approvals import PENDING, ApprovalRow

REQUEST_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Claude Code's prompt ids are five lowercase letters; anything id-like up to 64 is taken."""
_DECIDED: Final[dict[str, ApprovalState]] = {"allow": "allowed", "deny": "denied"}

ApprovalNews = Literal["requested", "decided"]
ApprovalListener = Callable[[Approval, ApprovalNews], None]


@dataclass(frozen=True)
class PermissionPrompt:
    """What Claude Code's permission request notification carries."""

    request_id: str
    tool_name: str
    description: str
    input_preview: str


class PromptRoutes(Protocol):
    """Whatever knows whether the Claude Code that asked is still connected (the MCP adapter)."""

    def can_answer(self, approval_id: int) -> bool: ...


class ApprovalsFeature(ServiceBase):
    """Client settings, and the permission prompts relayed to approvers."""

    approval_clock: Callable[[], int] = staticmethod(now_ms)
    prompt_routes: PromptRoutes | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._approval_listeners: set[ApprovalListener] = set()
        self._push_allowlists: dict[str, frozenset[str] | None] = {}
        self._settings_lock = threading.Lock()

    # --- settings ---------------------------------------------------------------------------

    def client_settings(self, caller: str) -> ClientSettings:
        """The caller's settings."""
        with self.storage.transaction():
            stored = approvals.settings_of(caller)
        return ClientSettings(approvers=stored.approvers, push_from=stored.push_from)

    def update_settings(self, caller: str, update: SettingsUpdate) -> ClientSettings:
        """Change the fields given in ``update``: approvers, and the push allowlist (given as
        null, it is back to the default: anyone who shares a session with the caller).

        Raises:
            NotFound: a named client is not known to the relay (nothing changes).
        """
        given = update.model_fields_set
        with self.storage.transaction():
            stored = approvals.settings_of(caller)
            if "approvers" in given:
                stored = replace(stored, approvers=_known(update.approvers or []))
            if "push_from" in given:
                push_from = None if update.push_from is None else _known(update.push_from)
                stored = replace(stored, push_from=push_from)
            clients.ensure_clients([caller], now_ms())
            approvals.save_settings(caller, stored)
        with self._settings_lock:
            allowed = stored.push_from
            self._push_allowlists[caller] = None if allowed is None else frozenset(allowed)
        return ClientSettings(approvers=stored.approvers, push_from=stored.push_from)

    def push_allowlist_known(self, caller: str) -> bool:
        """Whether :meth:`push_allowlist` answers from memory (no database read)."""
        return caller in self._push_allowlists

    def push_allowlist(self, caller: str) -> frozenset[str] | None:
        """Whose messages may be pushed into the caller's live sessions; None: anyone's it may
        read. Read once per client, then kept (this relay process updates it on each change)."""
        if caller not in self._push_allowlists:
            allowed = self.client_settings(caller).push_from
            with self._settings_lock:
                self._push_allowlists.setdefault(
                    caller, None if allowed is None else frozenset(allowed)
                )
        return self._push_allowlists[caller]

    # --- approvals --------------------------------------------------------------------------

    def on_approval(self, listener: ApprovalListener) -> Callable[[], None]:
        """Call ``listener`` on the event loop for each new or answered approval; the undo."""
        self._approval_listeners.add(listener)
        return lambda: self._approval_listeners.discard(listener)

    def attach_prompt_routes(self, routes: PromptRoutes) -> None:
        """Learn from the MCP adapter whether an approval's asker is still connected."""
        self.prompt_routes = routes

    def request_approval(self, caller: str, mcp_session: str, prompt: PermissionPrompt) -> Approval:
        """Store a permission prompt of the caller's Claude Code for its approvers to answer.

        Raises:
            InvalidInput: the request id is not id-like.
            Forbidden: the caller has no approvers.
        """
        if not REQUEST_ID.fullmatch(prompt.request_id):
            raise InvalidInput("a permission request needs a request_id of 1-64 letters or digits")
        stamp = self.approval_clock()
        with self.storage.transaction():
            approvers = approvals.settings_of(caller).approvers
            if not approvers:
                raise Forbidden(f"client {caller!r} has no approvers")
            row = ApprovalRow(
                request_id=prompt.request_id.lower(),
                requester=caller,
                mcp_session=mcp_session,
                tool=prompt.tool_name[:MAX_TOOL_CHARS],
                description=prompt.description[:MAX_DESCRIPTION_CHARS],
                input_preview=prompt.input_preview[:MAX_PREVIEW_CHARS],
                state=PENDING,
                created_ms=stamp,
                expires_ms=stamp + APPROVAL_TTL_S * 1000,
            )
            approval_id = approvals.add(row, approvers)
            approvals.log(approval_id, stamp, caller, "requested")
            approval = self._approval(row, approvers)
        self._announce_approval(approval, "requested")
        return approval

    def list_approvals(
        self, caller: str, *, history: bool = False, after_id: int = 0, limit: int = 100
    ) -> ApprovalList:
        """Approvals the caller asked for or may answer, oldest first: those still pending, or
        with ``history`` all of them."""
        limit = bounds.page_limit(limit)
        pending_at = None if history else self.approval_clock()
        with self.storage.transaction():
            rows = approvals.visible_to(
                caller, pending_at=pending_at, after_id=max(after_id, 0), limit=limit
            )
            who = approvals.approvers_of([row.id for row in rows])
            return ApprovalList(approvals=[self._approval(row, who[row.id]) for row in rows])

    def get_approval(self, caller: str, approval_id: int) -> Approval:
        """One approval with its audit trail.

        Raises:
            NotFound: no such approval, or the caller neither asked nor may answer it.
        """
        with self.storage.transaction():
            row, approvers = self._visible_approval(caller, approval_id)
            events = [
                ApprovalEvent(at=from_ms(e.at_ms), actor=e.actor, action=e.action, note=e.note)
                for e in approvals.events_of(approval_id)
            ]
            return self._approval(row, approvers).model_copy(update={"events": events})

    def answer_approval(self, caller: str, approval_id: int, answer: AnswerRequest) -> Approval:
        """Allow or deny a pending approval, once; a refused answer is kept in the audit trail.

        Raises:
            NotFound: no such approval, or the caller neither asked nor may answer it.
            Forbidden: the caller is not one of its approvers.
            Conflict: it was answered already, it expired, or the Claude Code that asked is gone.
        """
        stamp = self.approval_clock()
        state = _DECIDED[answer.behavior]
        refusal: Conflict | Forbidden | None = None
        with self.storage.transaction():
            row, approvers = self._visible_approval(caller, approval_id)
            refusal = self._answer_refusal(row, approvers, caller, stamp)
            if refusal is None and approvals.decide(approval_id, state, caller, stamp, answer.note):
                approvals.log(approval_id, stamp, caller, state, answer.note)
                decided = self._approval(approvals.get(approval_id) or row, approvers)
            elif refusal is None:  # another answer won the race
                refusal = self._answer_refusal(
                    approvals.get(approval_id) or row, approvers, caller, stamp
                )
        if refusal is not None:
            with self.storage.transaction():
                approvals.log(approval_id, stamp, caller, f"refused: {refusal.code}", str(refusal))
            raise refusal
        self._announce_approval(decided, "decided")
        return decided

    async def wait_approvals(
        self, caller: str, *, history: bool, after_id: int, timeout_s: float
    ) -> ApprovalList:
        """Approvals after ``after_id`` as :meth:`list_approvals`, waiting up to ``timeout_s``
        for one to arrive or change when there is none yet."""
        bounds.timeout(timeout_s)
        woken = asyncio.Event()

        def heard(approval: Approval, _: ApprovalNews) -> None:
            if caller == approval.requester or caller in approval.approvers:
                woken.set()

        undo = self.on_approval(heard)
        undo_close = self.hub.on_close(woken.set)
        try:
            with anyio.move_on_after(timeout_s):
                while True:
                    if self.hub.closed:
                        raise Unavailable("the relay is shutting down; try again in a moment")
                    woken.clear()
                    found = await anyio.to_thread.run_sync(
                        lambda: self.list_approvals(
                            caller, history=history, after_id=after_id, limit=MAX_PAGE_SIZE
                        )
                    )
                    if found.approvals:
                        return found
                    await woken.wait()
            return ApprovalList(approvals=[], timed_out=True)
        finally:
            undo()
            undo_close()

    # --- helpers ----------------------------------------------------------------------------

    def _visible_approval(self, caller: str, approval_id: int) -> tuple[ApprovalRow, list[str]]:
        row = approvals.get(approval_id)
        approvers = approvals.approvers_of([approval_id]).get(approval_id, [])
        if row is None or (caller != row.requester and caller not in approvers):
            raise NotFound(f"approval {approval_id} does not exist or is not yours to see")
        return row, approvers

    def _answer_refusal(
        self, row: ApprovalRow, approvers: Sequence[str], caller: str, stamp: int
    ) -> Conflict | Forbidden | None:
        if caller not in approvers:
            return Forbidden(f"you are not an approver of approval {row.id}")
        if row.state != PENDING:
            return Conflict(f"approval {row.id} was already {row.state} by {row.decided_by}")
        if row.expires_ms <= stamp:
            return Conflict(f"approval {row.id} expired at {from_ms(row.expires_ms):%H:%M:%S} UTC")
        routes = self.prompt_routes
        if routes is not None and not routes.can_answer(int(row.id)):
            return Conflict(
                f"approval {row.id}: the Claude Code session that asked is gone (it closed or "
                "was answered and restarted); it can no longer be answered from here"
            )
        return None

    def _approval(self, row: ApprovalRow, approvers: Sequence[str]) -> Approval:
        state: ApprovalState = row.state  # type: ignore[assignment]
        if state == PENDING and row.expires_ms <= self.approval_clock():
            state = "expired"
        return Approval(
            id=row.id,
            request_id=row.request_id,
            requester=row.requester,
            tool=row.tool,
            description=row.description,
            input_preview=row.input_preview,
            state=state,
            created_at=from_ms(row.created_ms),
            expires_at=from_ms(row.expires_ms),
            approvers=list(approvers),
            decided_by=row.decided_by,
            decided_at=None if row.decided_ms is None else from_ms(row.decided_ms),
            note=row.note,
        )

    def _announce_approval(self, approval: Approval, news: ApprovalNews) -> None:
        for listener in tuple(self._approval_listeners):
            self.hub.call_soon(listener, approval, news)


def _known(client_ids: Sequence[str]) -> list[str]:
    """The ids, each checked to be a client the relay knows, without repeats."""
    wanted = list(dict.fromkeys(client_ids))
    for client_id in wanted:
        clients.client_row(client_id)
    return wanted

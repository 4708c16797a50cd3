"""Tasks: handing one off in a session, claiming it on a lease, moving it through the A2A
lifecycle, and waiting for it.

Every change is made in one transaction together with the session message that announces it
(and the history entry that records it), so ``tail``, waits and live push hear of each change
the way they hear of any message. The announcement is stored by :func:`_announce`, beside the
service's ``post_message`` rather than through it: that method opens its own transaction and
event batch, and a task change must commit with its message or not at all.

Leases lapse without a thread of their own: every task read, claim, update and wait first
returns lapsed tasks to ``submitted`` (:meth:`TasksFeature._return_lapsed`), and a wait on a
held task also wakes when its lease would end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import anyio

from relay_core import (
    Forbidden,
    InvalidInput,
    Message,
    NotFound,
    SendMessageRequest,
    Unavailable,
    from_ms,
    now_ms,
)
from relay_core.tasks import (
    TASK_STATES,
    ClaimRequest,
    HandoffRequest,
    Role,
    Task,
    TaskState,
    TaskSummary,
    TaskWait,
    UpdateTaskRequest,
)
from relay_core.timestamps import to_ms
from relay_core.wire import DEFAULT_PAGE_SIZE, DEFAULT_WAIT_S
from relay_server.events import Posted
from relay_server.service import bounds
from relay_server.service import task_moves as moves
from relay_server.service.files import resolve_attachments
from relay_server.service.task_views import TaskView, announcement
from relay_server.service.watch import WatchFeature
from relay_server.storage import messages, roster, sessions, tasks
from relay_server.storage.tasks import TaskRow

Publish = Callable[[Posted], None]


class TasksFeature(WatchFeature):
    """Hand off, list, show, claim, move and wait for tasks."""

    task_clock: Callable[[], int] = staticmethod(now_ms)
    """Milliseconds now, for task times and leases (tests put a clock of their own here)."""

    def handoff_task(self, caller: str, name: str, request: HandoffRequest) -> Task:
        """Give a new task in session ``name``, to ``request.assignee`` or to anyone in it.

        Raises:
            NotFound / Forbidden / Conflict: no such session, not a participant, or closed.
            InvalidInput: the assignee is not a participant, or an input file is not uploaded.
        """
        stamp = self.task_clock()
        with self.hub.after_commit() as publish, self.storage.transaction():
            session = sessions.open_session_row(name)
            members = roster.roster(name).member(caller).members
            if request.assignee is not None and request.assignee not in members:
                raise InvalidInput(
                    f"{request.assignee!r} is not a participant of session {name!r}; invite "
                    "it first, or leave the assignee empty so that anyone in it may claim it"
                )
            row = tasks.add_task(
                session.id, request.title, request.details, caller, request.assignee, stamp
            )
            text = announcement(row, caller, None, request.details)
            self._record(
                publish,
                row,
                caller,
                "giver",
                None,
                request.details,
                text,
                request.attachments,
                stamp,
            )
        return self.get_task(caller, row.id)

    def list_tasks(
        self,
        caller: str,
        name: str | None = None,
        state: TaskState | None = None,
        mine: bool = False,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[TaskSummary]:
        """Tasks in the caller's sessions (or session ``name``), most recently changed first;
        ``mine``: only those it gave, is assigned or holds."""
        bounds.page_limit(limit)
        if state is not None and state not in TASK_STATES:
            raise InvalidInput(f"state must be one of {', '.join(TASK_STATES)}, got {state!r}")
        session_id = None
        if name is not None:
            session = sessions.session_row(name)
            sessions.membership(session, caller)
            session_id = session.id
        self._return_lapsed()
        return [
            TaskView(row, session_name).summary()
            for row, session_name in tasks.tasks_for(caller, session_id, state, mine, limit)
        ]

    def get_task(self, caller: str, task_id: int) -> Task:
        """One task of a session the caller belongs to, with its files and history.

        Raises:
            NotFound: no such task, or it is in a session the caller is not in.
        """
        bounds.message_id(task_id, "task id")
        self._return_lapsed()
        row, session_name = self._visible(caller, task_id)
        return TaskView(row, session_name).task(tasks.last_seen(row.claimed_by))

    def claim_task(self, caller: str, task_id: int, request: ClaimRequest | None = None) -> Task:
        """Take a submitted task: it becomes ``working``, held by the caller for ``lease_s``
        after its last activity on the relay. Of racing claimers, exactly one wins.

        Raises:
            Conflict: the task is not submitted (someone else claimed it first, or it ended).
            Forbidden: it is assigned to someone else.
        """
        lease_s = (request or ClaimRequest()).lease_s
        return self._move(caller, task_id, UpdateTaskRequest(state="working"), lease_s, claim=True)

    def update_task(self, caller: str, task_id: int, request: UpdateTaskRequest) -> Task:
        """Move a task to ``request.state`` (or, with no state, add a note), with files.

        The holder works, asks for input, completes or fails; the giver answers (input-required
        back to working) or cancels. A move from ``submitted`` to ``working`` is a claim.

        Raises:
            Conflict: the move is not legal from the task's state (the error lists those that are).
            Forbidden: the move belongs to the giver or the holder, and the caller is not it.
        """
        return self._move(caller, task_id, request, ClaimRequest().lease_s)

    async def wait_for_task(
        self,
        caller: str,
        task_id: int,
        until: Sequence[TaskState] | None = None,
        timeout_s: float = DEFAULT_WAIT_S,
    ) -> TaskWait:
        """The task once it is in one of the ``until`` states (default: input-required or
        final), waiting up to ``timeout_s``; woken by the session's messages, and when the
        holder's lease would lapse."""
        bounds.timeout(timeout_s)
        awaited = moves.awaited(until)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        woken = asyncio.Event()
        # Watch before the first read: a change committed after it is then sure to wake us.
        watch = self.watch(caller, lambda _: woken.set(), on_close=woken.set)
        try:
            while True:
                if self.hub.closed:
                    raise Unavailable("the relay is shutting down; try again in a moment")
                woken.clear()
                task = await anyio.to_thread.run_sync(self.get_task, caller, task_id)
                remaining = deadline - loop.time()
                if task.state in awaited or remaining <= 0:
                    return TaskWait(task=task, timed_out=task.state not in awaited)
                if task.lease_expires_at is not None:
                    lapse_s = (to_ms(task.lease_expires_at) + 1 - self.task_clock()) / 1000
                    remaining = min(remaining, max(lapse_s, 0.001))
                with anyio.move_on_after(remaining):
                    await woken.wait()
        finally:
            watch.stop()

    def _visible(self, caller: str, task_id: int) -> tuple[TaskRow, str]:
        """The task and its session's name, if the caller is in that session; else NotFound."""
        try:
            row = tasks.task_row(task_id)
            session = tasks.session_of(row)
            sessions.membership(session, caller)
        except (NotFound, Forbidden):
            raise NotFound(
                f"task {task_id} does not exist or is not in a session of yours",
                details={"task": task_id},
            ) from None
        return row, session.name

    def _move(
        self,
        caller: str,
        task_id: int,
        request: UpdateTaskRequest,
        lease_s: int,
        *,
        claim: bool = False,
    ) -> Task:
        bounds.message_id(task_id, "task id")
        self._return_lapsed()
        stamp = self.task_clock()
        with self.hub.after_commit() as publish, self.storage.transaction():
            row, name = self._visible(caller, task_id)
            sessions.open_session_row(name)
            from_state = moves.state_of(row)
            if claim and from_state != "submitted":
                raise moves.not_claimable(row, from_state)
            role = moves.role_for(row, caller, request.state)
            changes = moves.changes(row, caller, request.state, role, lease_s, stamp)
            if not tasks.move(row, **changes):
                raise moves.lost_race(task_id)
            text = announcement(row, caller, from_state, request.note)
            self._record(
                publish,
                row,
                caller,
                role,
                from_state,
                request.note,
                text,
                request.attachments,
                stamp,
            )
        return self.get_task(caller, task_id)

    def _record(
        self,
        publish: Publish,
        row: TaskRow,
        by: str,
        role: Role,
        from_state: TaskState | None,
        note: str,
        text: str,
        attachments: Sequence[object],
        stamp: int,
    ) -> None:
        """Announce a change in the task's session and add it to the task's history."""
        request = SendMessageRequest.parse({"text": text, "attachments": attachments})
        message_id = self._announce(publish, row, by, request, stamp)
        tasks.add_event(
            row.id,
            at_ms=stamp,
            by=by if role != "relay" else "relay",
            role=role,
            from_state=from_state,
            state=row.state,
            note=note,
            message_id=message_id,
        )

    def _announce(
        self, publish: Publish, row: TaskRow, sender: str, request: SendMessageRequest, stamp: int
    ) -> int:
        """Store ``request`` as a message from ``sender`` to the task's whole session, inside the
        open transaction, and queue its event for after the commit; its id."""
        session = tasks.session_of(row)
        attachments = resolve_attachments(self.blobs, sender, request)
        message_id = messages.add_message(
            session.id,
            sender,
            text=request.text,
            reply_to=None,
            recipients=[],
            attachments=attachments,
            stamp=stamp,
        )
        members = roster.roster(session.name).members
        message = Message(
            id=message_id,
            session=session.name,
            sender=sender,
            text=request.text,
            attachments=attachments,
            created_at=from_ms(stamp),
        )
        publish(
            Posted(
                message_id=message_id,
                session=session.name,
                sender=sender,
                recipients=frozenset(members - {sender}),
                message=message,
            )
        )
        return message_id

    def _return_lapsed(self) -> None:
        """Return every held task whose lease ran out to ``submitted``, each with its history
        entry and message (a read first: nothing is written when nothing lapsed)."""
        now = self.task_clock()
        if not tasks.lapsed(now):
            return
        with self.hub.after_commit() as publish, self.storage.transaction():
            for found in tasks.lapsed(now):
                row, holder = found.task, found.task.claimed_by or found.task.giver
                from_state = moves.state_of(row)
                if not tasks.move(
                    row,
                    state="submitted",
                    claimed_by=None,
                    lease_ms=None,
                    renewed_ms=None,
                    updated_ms=now,
                ):
                    continue
                note = (
                    f"{holder}'s claim lapsed at {from_ms(found.ended_ms):%H:%M:%S}Z: no activity "
                    "on the relay within its lease; anyone it is assigned to may claim it again"
                )
                text = announcement(row, "relay", from_state, note)
                self._record(publish, row, holder, "relay", from_state, note, text, [], now)

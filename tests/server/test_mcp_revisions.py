"""The MCP revisions the relay serves: by default only those that carry channel push.

Requests here are the bytes Claude Code 2.1.330 sends (captured against a relay on 2026-12-02):
it probes ``server/discover`` at 2026-07-28 first and falls back to ``initialize`` at 2025-11-25
when the server refuses the probe the way a handshake-only server does.
"""

import httpx2
import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp import Client as SdkClient
from mcp.client.streamable_http import streamable_http_client

from relay_core import InvalidInput
from relay_server.config import load_config

pytestmark = pytest.mark.anyio

HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
CLAUDE_CODE_CAPABILITIES = {"roots": {"listChanged": True}, "elicitation": {"form": {}, "url": {}}}
CLAUDE_CODE_INFO = {"name": "claude-code", "title": "Claude Code", "version": "2.1.330"}
MODERN_ERRORS = {-32020, -32021, -32022}  # header mismatch, missing capability, unsupported version


def modern_request(method, version=MODERN, request_id="server-discover-probe-1"):
    """A 2026-07-28 request as Claude Code sends it: the _meta envelope in the body."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": version,
                "io.modelcontextprotocol/clientInfo": CLAUDE_CODE_INFO,
                "io.modelcontextprotocol/clientCapabilities": CLAUDE_CODE_CAPABILITIES,
            }
        },
    }


def post(relay, body, client_id="alpha", token=None, **headers):
    all_headers = {
        **relay.headers(client_id, token),
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        **headers,
    }
    return requests.post(relay.mcp_url, headers=all_headers, json=body, timeout=10)


def probe(relay, version=MODERN, **kwargs):
    """Claude Code's opening request."""
    return post(
        relay,
        modern_request("server/discover", version),
        **{"MCP-Protocol-Version": version, "Mcp-Method": "server/discover"},
        **kwargs,
    )


def test_the_setting_defaults_to_push_and_names_itself_when_wrong():
    assert load_config(environ={}).mcp_revisions == "push"
    assert load_config(environ={"RELAY_MCP_REVISIONS": "all"}).mcp_revisions == "all"
    with pytest.raises(InvalidInput, match="RELAY_MCP_REVISIONS has value 'modern'"):
        load_config(environ={"RELAY_MCP_REVISIONS": "modern"})


def test_the_discover_probe_is_refused_as_a_handshake_only_server_refuses_it(relay):
    answer = probe(relay)
    assert answer.status_code == 400
    error = answer.json()["error"]
    # A 4xx without a recognized modern error is what makes a dual-era client fall back.
    assert error["code"] == -32600
    assert error["code"] not in MODERN_ERRORS
    assert HANDSHAKE in error["message"]


@pytest.mark.parametrize("version", [MODERN, "2099-01-01", "not-a-version"])
def test_any_request_at_a_revision_without_push_is_refused(relay, version):
    answer = post(
        relay,
        modern_request("tools/list", version, request_id=1),
        **{"MCP-Protocol-Version": version, "Mcp-Method": "tools/list"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32600


def test_the_refusal_comes_after_authentication(relay):
    assert probe(relay, token="not-the-relay-token-0123456789").status_code == 401


def test_an_initialize_asking_for_a_newer_revision_gets_the_handshake_one(relay):
    answer = post(
        relay,
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": MODERN,
                "capabilities": CLAUDE_CODE_CAPABILITIES,
                "clientInfo": CLAUDE_CODE_INFO,
            },
        },
    )
    assert answer.status_code == 200
    assert answer.headers["mcp-session-id"]
    assert f'"protocolVersion":"{HANDSHAKE}"' in answer.text


def test_the_sdk_still_picks_the_era_from_the_header_alone(relay):
    """The gate reads only the MCP-Protocol-Version header, because the MCP SDK routes on it.

    If an upgrade starts serving a modern envelope without that header, this fails: the gate
    must then look at the body too (see relay_server/mcp/revisions.py).
    """
    answer = post(relay, modern_request("tools/list", request_id=1))
    assert answer.status_code == 400  # the handshake transport: no session id
    assert "tools" not in answer.text
    assert "Missing session ID" in answer.json()["error"]["message"]


async def test_fastmcp_in_auto_mode_falls_back_to_the_handshake_era(relay):
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": "alpha"}, auth=relay.token
    )
    async with Client(transport, mode="auto") as client:
        assert client.protocol_version == HANDSHAKE
        assert await client.list_tools()


async def test_the_official_sdk_client_in_auto_mode_falls_back_to_the_handshake_era(relay):
    async with (
        httpx2.AsyncClient(headers=relay.headers("alpha"), timeout=30) as http,
        SdkClient(streamable_http_client(relay.mcp_url, http_client=http), mode="auto") as client,
    ):
        assert client.protocol_version == HANDSHAKE
        assert (await client.list_tools()).tools


async def test_with_all_revisions_the_probe_is_answered_and_auto_clients_go_modern(
    start_relay,
):
    relay = start_relay(mcp_revisions="all")
    answer = probe(relay)
    assert answer.status_code == 200
    assert MODERN in answer.json()["result"]["supportedVersions"]
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": "alpha"}, auth=relay.token
    )
    async with Client(transport, mode="auto") as client:
        assert client.protocol_version == MODERN
        assert await client.list_tools()


def test_the_access_log_shows_a_sessions_event_stream_and_a_refused_probe(relay):
    """What an operator (and tests/plugin/test_claude_code_era.py) reads to see who holds a
    stream that can carry push."""
    assert probe(relay, client_id="stream-watcher").status_code == 400
    init = post(
        relay,
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": HANDSHAKE,
                "capabilities": CLAUDE_CODE_CAPABILITIES,
                "clientInfo": CLAUDE_CODE_INFO,
            },
        },
        client_id="stream-watcher",
    )
    session = {
        **relay.headers("stream-watcher"),
        "Mcp-Session-Id": init.headers["mcp-session-id"],
        "MCP-Protocol-Version": HANDSHAKE,
        "Accept": "text/event-stream",
    }
    with requests.get(relay.mcp_url, headers=session, stream=True, timeout=10) as stream:
        assert stream.status_code == 200
    assert relay.access_line(r'via=mcp client=stream-watcher op="POST /mcp" .*outcome=400')
    assert relay.access_line(r'via=mcp client=stream-watcher op="GET /mcp" .*outcome=200')
    # A successful POST (the handshake, a tool call) gets no line of its own here.
    assert 'client=stream-watcher op="POST /mcp" session=- outcome=200' not in relay.log()

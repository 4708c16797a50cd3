"""Abuse against a real relay: oversized bodies and headers, slow clients, too many requests.

Each limit is checked where it bites: over a real socket, with the body sent with and without a
Content-Length, and the relay must keep serving everyone else afterwards.
"""

from __future__ import annotations

import base64
import os

import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

MiB = 1024 * 1024


def mcp_client(relay, client_id: str = "alpha") -> Client:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=60)


def assert_serving(relay) -> None:
    assert relay.process.poll() is None, relay.log()[-2000:]
    assert requests.get(relay.url + "/healthz", timeout=5).status_code == 200


@pytest.mark.anyio
async def test_upload_file_takes_a_file_as_large_as_the_inline_limit(start_relay):
    relay = start_relay(inline_file_bytes=5 * MiB)  # base64 is past the MCP SDK's 4 MiB
    data = os.urandom(5 * MiB)
    async with mcp_client(relay) as client:
        stored = await client.call_tool(
            "upload_file",
            {"filename": "big.bin", "content_base64": base64.b64encode(data).decode()},
            raise_on_error=False,
        )
        assert not stored.is_error, stored.content[0].text
        assert stored.structured_content["size"] == len(data)
        over = await client.call_tool(
            "upload_file",
            {"filename": "big.bin", "content_base64": base64.b64encode(data + b"x").decode()},
            raise_on_error=False,
        )
        assert over.content[0].text.startswith("too_large: ")
    assert_serving(relay)


def test_an_mcp_body_past_the_limit_is_refused_before_it_is_parsed(start_relay):
    relay = start_relay(inline_file_bytes=MiB)
    headers = {
        **relay.headers("alpha"),
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "pad": "' + b"x" * 5 * MiB + b'"}'
    declared = requests.post(relay.mcp_url, data=body, headers=headers, timeout=30)
    assert declared.status_code == 413
    chunked = requests.post(
        relay.mcp_url, data=iter([body[:MiB], body[MiB:]]), headers=headers, timeout=30
    )
    assert chunked.status_code == 413
    assert_serving(relay)

"""Who may see what: sessions, messages and files stay with the clients they belong to.

Every test runs against a real relay, through the HTTP API and through MCP, and tries the tricks
a curious or hostile client would: ids of other people's messages, cursors that start before
them, digests of files it was never given, another client's MCP session.
"""

from __future__ import annotations

from urllib.parse import quote

import requests

MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
HANDSHAKE_VERSION = "2025-11-25"


def mcp_post(relay, client_id, body, session_id=None):
    headers = {**relay.headers(client_id), **MCP_HEADERS}
    if session_id:
        headers |= {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": HANDSHAKE_VERSION}
    return requests.post(relay.mcp_url, json=body, headers=headers, timeout=10)


def open_mcp_session(relay, client_id):
    """A stateful (handshake era) MCP session of ``client_id``; returns its id."""
    answer = mcp_post(
        relay,
        client_id,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "security-test", "version": "1"},
            },
        },
    )
    assert answer.status_code == 200, answer.text
    session_id = answer.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert mcp_post(relay, client_id, initialized, session_id).status_code == 202
    return session_id


def whoami_call(request_id=2):
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}},
    }


def test_an_mcp_session_answers_only_the_client_that_opened_it(relay):
    session_id = open_mcp_session(relay, "alpha")
    assert mcp_post(relay, "alpha", whoami_call(), session_id).status_code == 200

    borrowed = mcp_post(relay, "mallory", whoami_call(), session_id)
    assert borrowed.status_code == 404
    headers = {**relay.headers("mallory"), **MCP_HEADERS, "Mcp-Session-Id": session_id}
    assert requests.get(relay.mcp_url, headers=headers, timeout=5).status_code == 404
    assert requests.delete(relay.mcp_url, headers=headers, timeout=5).status_code == 404

    still_there = mcp_post(relay, "alpha", whoami_call(3), session_id)
    assert still_there.status_code == 200
    assert '\\"client_id\\":\\"alpha\\"' in still_there.text


FORGED = "2026-01-01 00:00:00,000 INFO relay_server.access via=http client=root op=FORGED"


def test_a_client_cannot_forge_lines_in_the_access_log(relay):
    for separator in ("\n", "\r\n", "\r", "\u2028", "\x1b[2K\r"):
        path = quote(f"x{separator}{FORGED}", safe="")
        requests.get(
            f"{relay.url}/api/v1/sessions/{path}", headers=relay.headers("alpha"), timeout=5
        )
        requests.get(
            f"{relay.url}/api/v1/sessions/ok/{path}", headers=relay.headers("alpha"), timeout=5
        )
    lines = relay.log().splitlines()
    assert not [line for line in lines if line.startswith(FORGED[:10])]
    assert not [line for line in lines if "\x1b" in line or "\u2028" in line]

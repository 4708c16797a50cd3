"""The relay's own client id (``relay``, the sender of its reply-by and expiry notices) is no
client's: not by header, token, ``add-client``, join code or invitation.

A client called ``relay`` could post messages that read as the relay's notices, and would read
the relay's notices to others, as their sender. Real relays over real HTTP and MCP.
"""

import sqlite3
import uuid

import anyio
import pytest
import requests
from click.testing import CliRunner
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from relay_server.cli import main as server_cli
from relay_server.config import hash_token

RELAY_ID = "relay"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
"""Any MCP request: the caller is refused before it is read."""


def assert_reserved(answer: requests.Response) -> None:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert "'relay' is reserved" in error["message"]


def whoami(relay, headers: dict[str, str]) -> requests.Response:
    return requests.get(relay.url + "/api/v1/whoami", headers=headers, timeout=10)


async def mcp_whoami(relay, client_id: str) -> str:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    async with Client(transport, timeout=10) as client:
        return (await client.call_tool("whoami", {})).structured_content["client_id"]


def test_a_caller_cannot_name_itself_relay_over_http_or_mcp(relay):
    assert_reserved(whoami(relay, relay.headers(RELAY_ID)))
    assert whoami(relay, relay.headers("relay-1")).json()["client_id"] == "relay-1"
    assert anyio.run(mcp_whoami, relay, "relay-1") == "relay-1"
    headers = {**relay.headers(RELAY_ID), "Accept": "application/json, text/event-stream"}
    assert_reserved(requests.post(relay.mcp_url, json=PING, headers=headers, timeout=10))


def test_an_open_relay_refuses_the_name_too(start_relay):
    relay = start_relay(token=None)
    assert_reserved(whoami(relay, {"X-Client-Id": RELAY_ID}))


def test_relay_cannot_be_made_a_participant(relay):
    session = f"reserved-{uuid.uuid4().hex[:8]}"
    alpha = relay.headers("alpha")
    sessions = relay.url + "/api/v1/sessions"
    body = {"name": session, "participants": ["beta", RELAY_ID]}
    assert_reserved(requests.post(sessions, json=body, headers=alpha, timeout=10))
    assert requests.get(f"{sessions}/{session}", headers=alpha, timeout=10).status_code == 404
    created = requests.post(sessions, json={"name": session}, headers=alpha, timeout=10)
    assert created.status_code == 201, created.text
    invite = f"{sessions}/{session}/invite"
    assert_reserved(requests.post(invite, json={"clients": [RELAY_ID]}, headers=alpha, timeout=10))
    shown = requests.get(f"{sessions}/{session}", headers=alpha, timeout=10).json()
    assert [p["client_id"] for p in shown["participants"]] == ["alpha"]


@pytest.fixture
def per_client(start_relay):
    return start_relay(token=None, auth_mode="per-client")


def admin(relay, *args: str):
    env = {**relay.env, "RELAY_PORT": str(relay.port)}
    return CliRunner().invoke(server_cli, [*args, "--data-dir", str(relay.data_dir)], env=env)


def test_add_client_and_join_codes_refuse_the_name(per_client):
    refused = admin(per_client, "add-client", RELAY_ID)
    assert refused.exit_code != 0
    assert "'relay' is reserved" in refused.output
    assert admin(per_client, "join-code", "--client-id", RELAY_ID).exit_code != 0
    listed = admin(per_client, "clients")
    assert listed.exit_code == 0, listed.output
    assert RELAY_ID not in listed.output.split()

    issued = admin(per_client, "join-code")
    assert issued.exit_code == 0, issued.output
    code = next(word for word in issued.output.split() if len(word) == 14 and word.count("-") == 2)
    join = per_client.url + "/api/v1/join"
    asked = requests.post(join, json={"code": code, "client_id": RELAY_ID}, timeout=10)
    assert_reserved(asked)
    kept = requests.post(join, json={"code": code, "client_id": "beta"}, timeout=10)
    assert kept.status_code == 200, kept.text


def test_a_token_given_to_relay_before_it_was_reserved_is_refused(per_client):
    token = "a-token-from-an-older-relay-0123456789"
    with sqlite3.connect(per_client.data_dir / "relay.sqlite3") as db:
        db.execute(
            "INSERT INTO client (client_id, token_hash, created_ms) VALUES (?, ?, 0)",
            (RELAY_ID, hash_token(token)),
        )
    assert_reserved(whoami(per_client, {"Authorization": f"Bearer {token}"}))
    assert whoami(per_client, {"Authorization": f"Bearer {per_client.add_client('alpha')}"}).ok

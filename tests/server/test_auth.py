"""The auth matrix: open, shared and per-client modes against every kind of route."""

import os
import subprocess
import sys

import pytest
import requests

ROUTES = [
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions"),
    ("GET", "/api/v1/peers"),
    ("GET", "/api/v1/wait?timeout=0"),
    ("POST", "/mcp"),
]


def call(relay, method, path, headers):
    body = {"name": "auth-probe"} if path == "/api/v1/sessions" else None
    if path == "/mcp":
        headers = {**headers, "Accept": "application/json, text/event-stream"}
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "auth-test", "version": "1"},
            },
        }
    return requests.request(method, relay.url + path, headers=headers, json=body, timeout=10)


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Client-Id": "alpha"},
        {"X-Client-Id": "alpha", "Authorization": "Bearer wrong-token-0123456789"},
        {"X-Client-Id": "alpha", "Authorization": "Basic YWxwaGE6eA=="},
        {"X-Client-Id": "alpha", "Authorization": "Bearer "},
    ],
    ids=["nothing", "no-token", "wrong-token", "not-bearer", "empty-bearer"],
)
def test_shared_mode_refuses_a_missing_or_wrong_token_on_every_route(relay, method, path, headers):
    answer = call(relay, method, path, headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] == "unauthorized"
    assert "wrong-token" not in answer.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_shared_mode_accepts_the_token_with_a_client_id(relay, method, path):
    answer = call(relay, method, path, relay.headers("alpha"))
    assert answer.status_code < 400 or answer.status_code == 409, answer.text


def test_shared_mode_needs_a_client_id(relay):
    answer = requests.get(
        relay.url + "/api/v1/status", headers={"Authorization": f"Bearer {relay.token}"}, timeout=5
    )
    assert answer.status_code == 401
    assert "X-Client-Id" in answer.json()["error"]["message"]


def test_a_malformed_client_id_is_invalid(relay):
    answer = requests.get(relay.url + "/api/v1/status", headers=relay.headers("../root"), timeout=5)
    assert answer.status_code == 400


def test_open_mode_takes_identity_from_the_header(start_relay):
    relay = start_relay(token=None)
    answer = requests.get(relay.url + "/api/v1/whoami", headers={"X-Client-Id": "alpha"}, timeout=5)
    assert answer.json()["client_id"] == "alpha"
    assert answer.json()["auth_mode"] == "open"
    assert requests.get(relay.url + "/api/v1/whoami", timeout=5).status_code == 401


def add_client(relay, client_id):
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "relay_server",
            "add-client",
            client_id,
            "--data-dir",
            str(relay.data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, **relay.env},
    ).stdout
    return next(line.strip() for line in output.splitlines() if line.startswith("    "))


def test_per_client_tokens_are_the_identity_and_cannot_be_spoofed(start_relay):
    relay = start_relay(token=None, auth_mode="per-client")
    alpha_token = add_client(relay, "alpha")
    beta_token = add_client(relay, "beta")
    assert alpha_token != beta_token
    as_alpha = {"Authorization": f"Bearer {alpha_token}"}
    who = requests.get(relay.url + "/api/v1/whoami", headers=as_alpha, timeout=5)
    assert who.json()["client_id"] == "alpha"
    assert who.json()["auth_mode"] == "per-client"
    spoofed = requests.get(
        relay.url + "/api/v1/whoami", headers={**as_alpha, "X-Client-Id": "beta"}, timeout=5
    )
    assert spoofed.status_code == 403
    assert spoofed.json()["error"]["code"] == "forbidden"
    same = requests.get(
        relay.url + "/api/v1/whoami", headers={**as_alpha, "X-Client-Id": "alpha"}, timeout=5
    )
    assert same.status_code == 200
    unknown = requests.get(
        relay.url + "/api/v1/whoami",
        headers={"Authorization": "Bearer not-a-client-token"},
        timeout=5,
    )
    assert unknown.status_code == 401
    assert (
        requests.get(
            relay.url + "/api/v1/whoami", headers={"X-Client-Id": "alpha"}, timeout=5
        ).status_code
        == 401
    )


def test_tokens_are_stored_hashed(start_relay):
    relay = start_relay(token=None, auth_mode="per-client")
    token = add_client(relay, "alpha")
    relay.stop()
    database = (relay.data_dir / "relay.sqlite3").read_bytes()
    assert token.encode() not in database
    log = relay.log()
    assert token not in log

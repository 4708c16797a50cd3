"""The operator's view of clients: ``clients`` lists them with their token and last-seen time,
``revoke`` takes a token away at once on a running relay, and rotating says so.

A real relay (per-client mode) over real HTTP; the admin commands in their own processes, as an
operator runs them beside the relay.
"""

import json

import pytest
import requests


@pytest.fixture
def per_client(start_relay):
    return start_relay(token=None, auth_mode="per-client")


def whoami(relay, token: str) -> int:
    return requests.get(
        relay.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def test_clients_lists_each_client_with_its_token_and_last_seen(per_client):
    alpha = per_client.add_client("alpha")
    per_client.add_client("beta")
    assert whoami(per_client, alpha) == 200  # alpha called; beta never did
    listed = json.loads(per_client.admin("clients", "--json"))
    assert listed["auth_mode"] == "per-client"
    by_id = {row["client_id"]: row for row in listed["clients"]}
    assert by_id["alpha"]["token"] is True
    assert by_id["alpha"]["last_seen"] is not None
    assert by_id["beta"] == {"client_id": "beta", "token": True, "last_seen": None}
    table = per_client.admin("clients")
    assert table.splitlines()[0].split() == ["CLIENT", "TOKEN", "LAST", "SEEN"]
    assert any(line.split()[:3] == ["beta", "yes", "never"] for line in table.splitlines())
    assert alpha not in table  # tokens are never shown, only whether one is held


def test_revoke_takes_effect_at_once_on_the_running_relay(per_client):
    token = per_client.add_client("alpha")
    other = per_client.add_client("beta")
    assert whoami(per_client, token) == 200  # remembered by the relay from here on
    output = per_client.admin("revoke", "alpha")
    assert "stops working now" in output
    assert whoami(per_client, token) == 401
    assert whoami(per_client, other) == 200
    listed = json.loads(per_client.admin("clients", "--json"))
    assert {r["client_id"]: r["token"] for r in listed["clients"]} == {
        "alpha": False,
        "beta": True,
    }


def test_rotating_a_token_says_so_and_the_old_one_stops_at_once(per_client):
    old = per_client.add_client("alpha")
    assert whoami(per_client, old) == 200
    output = per_client.admin("add-client", "alpha")
    assert "rotated" in output
    assert "stops working now" in output
    new = next(line.strip() for line in output.splitlines() if line.startswith("    "))
    assert whoami(per_client, old) == 401
    assert whoami(per_client, new) == 200

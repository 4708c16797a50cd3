"""``agent-relay role`` and ``send --to @role`` against a real relay."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from relay_client import ClientConfig


@pytest.fixture
def world(relay, data_paths):
    """This machine (``me``) and a peer ``bob`` in a fresh session."""
    tag = uuid.uuid4().hex[:8]
    me, bob, session = f"me-{tag}", f"bob-{tag}", f"roles-{tag}"
    ClientConfig(relay_url=relay.url, client_id=me, token=relay.token).save(data_paths.config)
    answer = requests.post(
        relay.url + "/api/v1/sessions",
        json={"name": session, "participants": [me]},
        headers=relay.headers(bob),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return {"me": me, "bob": bob, "session": session, "relay": relay}


def bob_reads(world) -> list[int]:
    relay = world["relay"]
    answer = requests.get(
        f"{relay.url}/api/v1/sessions/{world['session']}/messages?after=0",
        headers=relay.headers(world["bob"]),
        timeout=10,
    )
    return [m["id"] for m in answer.json()["messages"]]


def test_a_send_to_a_role_nobody_holds_says_so_and_the_claim_delivers_it(world, run) -> None:
    sent = run("send", world["session"], "please review", "--to", "@reviewer")
    assert sent.exit_code == 0, sent.output
    assert "Nobody holds @reviewer yet" in sent.stdout
    message_id = int(sent.stdout.split("#")[1].split()[0])
    relay = world["relay"]
    claim = requests.put(
        f"{relay.url}/api/v1/sessions/{world['session']}/roles/reviewer",
        headers=relay.headers(world["bob"]),
        timeout=10,
    )
    assert claim.status_code == 200, claim.text
    assert claim.json()["held"] == [message_id]
    assert message_id in bob_reads(world)


def test_role_claim_and_release_from_the_command_line(world, run) -> None:
    claimed = run("role", "claim", world["session"], "@tester", "--json")
    assert claimed.exit_code == 0, claimed.output
    assert json.loads(claimed.stdout)["holder"] == world["me"]
    shown = run("session", "show", world["session"])
    assert "@tester" in shown.stdout
    refused = run("role", "release", world["session"], "nosuchrole")
    assert refused.exit_code != 0
    assert "nobody holds" in refused.stderr
    released = run("role", "release", world["session"], "tester")
    assert released.exit_code == 0
    assert "no longer hold @tester" in released.stdout

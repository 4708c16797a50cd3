"""The relay's record of clients: who holds a token, and what it tells a client about itself."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import requests

API = "/api/v1"


def test_per_client_mode_refuses_exactly_the_clients_that_hold_no_token(start_relay):
    relay = start_relay()  # shared-token mode first: a caller becomes a client without a token
    answer = requests.get(relay.url + API + "/whoami", headers=relay.headers("ghost"), timeout=10)
    assert answer.status_code == 200, answer.text
    relay.stop()
    relay.env = {"RELAY_AUTH_MODE": "per-client"}
    relay.start()
    token = relay.add_client("alpha")
    headers = relay.headers("alpha", token=token)

    def post(path: str, body: dict) -> requests.Response:
        return requests.post(relay.url + API + path, json=body, headers=headers, timeout=10)

    assert post("/sessions", {"name": "room"}).status_code == 201
    # Unknown to the relay, known without a token, holding one (alpha), unknown: in that order.
    refused = post("/sessions/room/invite", {"clients": ["nobody", "ghost", "alpha", "typo"]})
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "not_found"
    assert refused.json()["error"]["details"] == {"clients": ["nobody", "ghost", "typo"]}
    # A client with a token is taken (here alpha itself, already a member: nothing changes).
    taken = post("/sessions/room/invite", {"clients": ["alpha"]})
    assert taken.status_code == 200, taken.text
    assert [p["client_id"] for p in taken.json()["participants"]] == ["alpha"]
    refused = post("/sessions", {"name": "other", "participants": ["ghost"]})
    assert refused.json()["error"]["details"] == {"clients": ["ghost"]}


def whoami(relay, client_id: str) -> dict:
    answer = requests.get(relay.url + API + "/whoami", headers=relay.headers(client_id), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def seen(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_whoami_shows_the_callers_own_record_not_another_clients(relay):
    early, late = (f"{role}-{uuid.uuid4().hex[:10]}" for role in ("early", "late"))
    before = seen(whoami(relay, early)["first_seen"])
    # The relay stamps in milliseconds: let the clock pass the early client's stamp.
    deadline = time.monotonic() + 5
    while time.time() * 1000 < before.timestamp() * 1000 + 2:
        assert time.monotonic() < deadline
    late_record = whoami(relay, late)
    assert late_record["client_id"] == late
    assert seen(late_record["first_seen"]) > before
    assert seen(whoami(relay, early)["first_seen"]) == before

"""Who may be put into a session, who shows up as a peer, and listing many sessions.

Anyone holding a token could add any client id to a session, ids that never connected
included; those then showed up in everyone's peer list, and a few thousand such sessions made
the victim's ``list_sessions`` and ``status`` take seconds (three queries a session).
"""

from __future__ import annotations

import pytest
import requests

from relay_core import CreateSessionRequest, InviteRequest, SendMessageRequest
from relay_server.app import build_service
from relay_server.config import ServerConfig
from relay_server.service import RelayService


@pytest.fixture
def service(tmp_path) -> RelayService:
    """An in-process service on a fresh database (shared-token mode)."""
    return build_service(ServerConfig(data_dir=tmp_path, token="t" * 32))


class Statements:
    """SQL statements this thread's connection runs while counting."""

    def __init__(self, service: RelayService) -> None:
        self.connection = service.storage.database.connection()
        self.seen: list[str] = []

    def __enter__(self) -> list[str]:
        self.connection.set_trace_callback(self.seen.append)
        return self.seen

    def __exit__(self, *_: object) -> None:
        self.connection.set_trace_callback(None)


def make_sessions(service: RelayService, count: int, start: int) -> None:
    for i in range(start, start + count):
        name = f"s{i}"
        service.create_session("alpha", CreateSessionRequest(name=name, participants=["victim"]))
        service.post_message("alpha", name, SendMessageRequest(text="spam"))


def test_listing_sessions_costs_the_same_few_queries_for_10_or_300_sessions(service):
    make_sessions(service, 10, 0)
    with Statements(service) as few:
        assert len(service.list_sessions("victim")) == 10
    make_sessions(service, 290, 10)
    with Statements(service) as many:
        listed = service.list_sessions("victim")
    assert len(listed) == 300
    assert all(s.unread == 1 and s.participants == 2 for s in listed)
    assert len(many) == len(few) <= 2, many[:5]
    with Statements(service) as status:
        assert service.status("victim").unread == 300
    assert len(status) <= 8, status


def test_list_sessions_counts_only_what_the_caller_may_read(service):
    service.create_session("alpha", CreateSessionRequest(name="mixed", participants=["b", "c"]))
    service.post_message("alpha", "mixed", SendMessageRequest(text="all"))
    service.post_message("alpha", "mixed", SendMessageRequest(text="b only", to=["b"]))
    service.post_message("c", "mixed", SendMessageRequest(text="c's own"))
    [for_b] = service.list_sessions("b")
    [for_c] = service.list_sessions("c")
    assert (for_b.last_message_id, for_b.unread) == (3, 3)
    assert (for_c.last_message_id, for_c.unread) == (3, 1)  # not "b only", not its own
    service.invite("alpha", "mixed", InviteRequest(clients=["d"]))
    assert service.list_sessions("d")[0].participants == 4


def test_an_invited_name_that_never_called_is_a_peer_only_to_its_sessions(service):
    for caller in ("alpha", "carol"):
        service.record_seen(caller)
    service.create_session("alpha", CreateSessionRequest(name="lure", participants=["ghost"]))
    assert "ghost" in {p.client_id for p in service.list_peers("alpha")}
    assert {p.client_id for p in service.list_peers("carol")} == {"alpha"}
    service.record_seen("ghost")  # once it calls, it is a peer like any other
    assert "ghost" in {p.client_id for p in service.list_peers("carol")}


@pytest.fixture
def per_client(start_relay) -> tuple[object, dict[str, dict[str, str]]]:
    """A per-client relay where alpha and beta hold tokens; their headers."""
    relay = start_relay(token=None, auth_mode="per-client")
    headers = {}
    for client_id in ("alpha", "beta"):
        token = relay.add_client(client_id)
        headers[client_id] = {"Authorization": f"Bearer {token}"}
    return relay, headers


def test_per_client_mode_adds_only_clients_that_hold_a_token(per_client):
    relay, headers = per_client
    sessions = relay.url + "/api/v1/sessions"
    refused = requests.post(
        sessions, json={"name": "typo", "participants": ["btea"]}, headers=headers["alpha"]
    )
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert refused.json()["error"]["details"]["clients"] == ["btea"]
    assert "add-client btea" in refused.json()["error"]["message"]
    assert requests.get(sessions + "/typo", headers=headers["alpha"]).status_code == 404

    created = requests.post(sessions, json={"name": "real"}, headers=headers["alpha"])
    assert created.status_code == 201
    invite = sessions + "/real/invite"
    refused = requests.post(invite, json={"clients": ["beta", "ghost"]}, headers=headers["alpha"])
    assert refused.json()["error"]["details"]["clients"] == ["ghost"]
    detail = requests.get(sessions + "/real", headers=headers["alpha"]).json()
    assert [p["client_id"] for p in detail["participants"]] == ["alpha"]  # nobody was added
    assert requests.post(invite, json={"clients": ["beta"]}, headers=headers["alpha"]).ok
    peers = requests.get(relay.url + "/api/v1/peers", headers=headers["beta"]).json()["peers"]
    assert {p["client_id"] for p in peers} == {"alpha"}

    # A client put into a session it does not want leaves it.
    assert requests.post(sessions + "/real/leave", headers=headers["beta"]).status_code == 204
    assert requests.get(sessions, headers=headers["beta"]).json()["sessions"] == []

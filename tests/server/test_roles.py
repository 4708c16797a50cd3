"""Role addresses: ``@reviewer`` reaches whoever holds the role when the message is read.

The service runs in process on a fresh store with session ``team`` of alpha, bravo and carol;
visibility is checked through every read a client has (a page, one message, unread counts,
search), so a role rule wrong in one query shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relay_core import (
    Conflict,
    CreateSessionRequest,
    Forbidden,
    InvalidInput,
    NotFound,
    SendMessageRequest,
)
from relay_server.events import EventHub
from relay_server.service import RelayService
from relay_server.storage import open_storage
from tests.conftest import service_on

MEMBERS = ("alpha", "bravo", "carol")


@pytest.fixture
def service(team_service: RelayService) -> RelayService:
    """Session ``team`` of alpha, bravo and carol, on each backend (tests/conftest.py)."""
    return team_service


def send(service: RelayService, sender: str, text: str, to=(), session: str = "team"):
    return service.post_message(
        sender, session, SendMessageRequest.parse({"text": text, "to": list(to)})
    )


def can_read(service: RelayService, client: str, message_id: int) -> bool:
    """Whether every view agrees the client may read the message (and it says which)."""
    page = service.read_messages(client, "team", after_id=0, limit=500)
    in_page = message_id in [m.id for m in page.messages]
    try:
        service.get_message(client, message_id)
        by_id = True
    except NotFound:
        by_id = False
    assert in_page == by_id, (client, message_id, in_page, by_id)
    counts_agree(service, client)
    return in_page


def counts_agree(service: RelayService, client: str) -> None:
    """The client's session list counts what the session itself counts."""
    detail = service.get_session(client, "team")
    (summary,) = [s for s in service.list_sessions(client) if s.name == "team"]
    listed = (summary.unread, summary.last_message_id)
    assert listed == (detail.unread, detail.last_message_id), (client, listed, detail)


def test_a_message_to_a_role_reaches_its_holder_and_only_it(service: RelayService) -> None:
    service.claim_role("bravo", "team", "reviewer")
    sent = send(service, "alpha", "please review #12", to=["@reviewer"])
    assert sent.held_for == []
    assert can_read(service, "bravo", sent.id)
    assert can_read(service, "alpha", sent.id)  # its sender
    assert not can_read(service, "carol", sent.id)
    assert service.get_message("bravo", sent.id).to == ["@reviewer"]
    assert service.get_session("bravo", "team").unread == 1
    assert service.get_session("carol", "team").unread == 0


def test_the_message_follows_the_role_to_its_next_holder(service: RelayService) -> None:
    service.claim_role("bravo", "team", "reviewer")
    sent = send(service, "alpha", "review this", to=["@reviewer"])
    claim = service.claim_role("carol", "team", "@reviewer")
    assert (claim.holder, claim.previous, claim.held) == ("carol", "bravo", [])
    assert can_read(service, "carol", sent.id)
    assert not can_read(service, "bravo", sent.id)
    assert service.get_session("alpha", "team").roles == {"reviewer": "carol"}


def test_a_role_nobody_holds_keeps_the_message_for_the_next_holder(service: RelayService) -> None:
    sent = send(service, "alpha", "whoever reviews: #12", to=["@reviewer", "bravo"])
    assert sent.held_for == ["reviewer"]
    assert can_read(service, "bravo", sent.id)  # named directly
    assert not can_read(service, "carol", sent.id)
    claim = service.claim_role("carol", "team", "reviewer")
    assert claim.held == [sent.id]
    assert can_read(service, "carol", sent.id)
    again = service.claim_role("carol", "team", "reviewer")
    assert again.held == []  # delivered once


def test_releasing_and_leaving_give_the_role_up(service: RelayService) -> None:
    service.claim_role("bravo", "team", "reviewer")
    sent = send(service, "alpha", "r1", to=["@reviewer"])
    with pytest.raises(Forbidden):
        service.release_role("carol", "team", "reviewer")
    released = service.release_role("bravo", "team", "reviewer")
    assert released.holder is None
    assert released.previous == "bravo"
    assert not can_read(service, "bravo", sent.id)
    with pytest.raises(InvalidInput, match="nobody holds"):
        service.release_role("bravo", "team", "reviewer")
    service.claim_role("carol", "team", "reviewer")
    service.leave("carol", "team")
    assert service.get_session("alpha", "team").roles == {}
    assert send(service, "alpha", "r2", to=["@reviewer"]).held_for == ["reviewer"]


def test_roles_belong_to_one_session(service: RelayService) -> None:
    service.create_session("alpha", CreateSessionRequest(name="other", participants=["carol"]))
    service.claim_role("carol", "other", "reviewer")
    sent = send(service, "alpha", "in team", to=["@reviewer"])
    assert sent.held_for == ["reviewer"]
    assert not can_read(service, "carol", sent.id)


def test_only_members_claim_and_names_are_checked(service: RelayService) -> None:
    with pytest.raises(Forbidden):
        service.claim_role("dave", "team", "reviewer")
    with pytest.raises(NotFound):
        service.claim_role("alpha", "nowhere", "reviewer")
    for bad in ("Reviewer", "@", "a/b", "", "@@x"):
        with pytest.raises(InvalidInput):
            service.claim_role("alpha", "team", bad)
    with pytest.raises(InvalidInput):
        send(service, "alpha", "x", to=["@Bad"])
    assert service.get_session("alpha", "team").roles == {}


def test_a_closed_session_takes_no_claims(service: RelayService) -> None:
    service.close_session("alpha", "team")
    with pytest.raises(Conflict):
        service.claim_role("bravo", "team", "reviewer")


@pytest.mark.anyio
async def test_a_waiting_holder_is_woken_and_a_waiting_non_holder_is_not(tmp_path: Path) -> None:
    import asyncio

    storage = open_storage(tmp_path / "relay.sqlite3")
    hub = EventHub()
    hub.attach(asyncio.get_running_loop())
    relay = service_on(storage, hub)
    try:
        relay.create_session(
            "alpha", CreateSessionRequest(name="team", participants=list(MEMBERS[1:]))
        )
        relay.claim_role("bravo", "team", "reviewer")
        holder = asyncio.create_task(relay.wait_for_messages("bravo", "team", None, 10))
        other = asyncio.create_task(relay.wait_for_messages("carol", "team", None, 0.5))
        await asyncio.sleep(0.1)
        sent = send(relay, "alpha", "wake the reviewer", to=["@reviewer"])
        page = await asyncio.wait_for(holder, 5)
        assert [m.id for m in page.messages] == [sent.id]
        assert (await other).messages == []
    finally:
        storage.close()

"""Who may read what, read straight from the store on each backend, in the corners the wider
tests pass by: an expired message stays readable only to its sender and to those who read it,
whatever anyone else did with it; a message to a role is readable by that role's holder, not
by the holder of another; a poll of every session pages on from the last message it shows;
the newest message id of an empty relay is 0.

Each pins a wrong answer of ``storage/messages.py`` that passed every other test of the
``messages`` mutation target (see docs/testing.md, "Mutation testing")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from relay_core import CreateSessionRequest, NotFound, SendMessageRequest
from relay_core.tasks import HandoffRequest
from tests.server.test_delivery import Clock


@pytest.fixture
def clock(team_service: Any) -> Iterator[Clock]:
    """``team_service`` on a clock the test moves."""
    moved = Clock()
    team_service.delivery_clock = moved
    yield moved
    team_service.hub.close()  # stops the deadline timer


def page_ids(service: Any, caller: str) -> list[int]:
    return [m.id for m in service.read_messages(caller, "team", after_id=0).messages]


def test_an_expired_message_is_not_kept_for_one_because_another_was_handed_it_unread(
    team_service: Any, clock: Clock
) -> None:
    request = SendMessageRequest.parse({"text": "for carol", "to": ["bravo", "carol"], "ttl_s": 30})
    carols = team_service.post_message("alpha", "team", request).id
    team_service.read_messages("carol", "team", mark_read=True)  # read by carol alone
    request = SendMessageRequest.parse({"text": "soon gone", "ttl_s": 30})
    sent = team_service.post_message("alpha", "team", request).id
    assert page_ids(team_service, "bravo") == [carols, sent]  # delivered to bravo, not read
    clock.advance(30)
    assert page_ids(team_service, "carol") == [carols]  # read by carol, so kept for carol
    with pytest.raises(NotFound):
        team_service.get_message("carol", sent)
    assert page_ids(team_service, "bravo") == []  # delivered is not read
    # Another's read of another message keeps nothing either.
    later = team_service.post_message("alpha", "team", SendMessageRequest(text="later")).id
    team_service.mark_read("bravo", "team", later)
    assert page_ids(team_service, "carol") == [carols, later]
    assert sent in page_ids(team_service, "alpha")  # with the relay's note that it expired


def test_a_poll_of_every_session_goes_on_after_the_last_message_it_shows(
    team_service: Any,
) -> None:
    ids = [
        team_service.post_message("alpha", "team", SendMessageRequest(text=f"m{i}")).id
        for i in range(3)
    ]
    page = team_service.poll("bravo", limit=2)
    assert ([m.id for m in page.messages], page.next_after_id, page.has_more) == (
        ids[:2],
        ids[1],
        True,
    )
    rest = team_service.poll("bravo", after_id=page.next_after_id)
    assert ([m.id for m in rest.messages], rest.next_after_id) == (ids[2:], ids[2])
    exact = team_service.poll("bravo", after_id=ids[1], limit=1)  # a page of exactly limit
    assert ([m.id for m in exact.messages], exact.has_more) == (ids[2:], False)
    empty = team_service.poll("bravo", after_id=ids[2])
    assert (empty.messages, empty.next_after_id, empty.has_more) == ([], ids[2], False)
    assert team_service.poll("alpha").next_after_id == 0  # nothing from others: from the start


def test_a_message_to_a_role_is_read_by_its_holder_and_not_by_the_holder_of_another(
    team_service: Any,
) -> None:
    team_service.claim_role("bravo", "team", "writer")
    team_service.claim_role("carol", "team", "reviewer")  # sorts before "writer"
    request = SendMessageRequest(text="for the writer", to=["@writer"])
    sent = team_service.post_message("alpha", "team", request).id
    assert page_ids(team_service, "bravo") == [sent]
    assert page_ids(team_service, "carol") == []
    with pytest.raises(NotFound):
        team_service.get_message("carol", sent)
    request = SendMessageRequest(text="for the reviewer", to=["@reviewer"])
    other = team_service.post_message("alpha", "team", request).id
    assert page_ids(team_service, "carol") == [other]
    assert page_ids(team_service, "bravo") == [sent]


def test_the_latest_message_id_is_zero_on_an_empty_relay_then_the_newest(
    team_service: Any,
) -> None:
    assert team_service.latest_message_id() == 0
    sent = team_service.post_message("alpha", "team", SendMessageRequest(text="first")).id
    assert team_service.latest_message_id() == sent


def test_a_role_held_in_one_session_reads_nothing_sent_to_that_role_in_another(
    team_service: Any,
) -> None:
    team_service.claim_role("carol", "team", "writer")
    team_service.claim_role("carol", "team", "reviewer")  # another role in another session
    request = CreateSessionRequest(name="later", participants=["bravo", "carol"])
    team_service.create_session("alpha", request)
    team_service.claim_role("bravo", "later", "writer")
    to_writer = SendMessageRequest(text="for the writer", to=["@writer"])
    in_team = team_service.post_message("alpha", "team", to_writer).id
    in_later = team_service.post_message("alpha", "later", to_writer).id
    assert page_ids(team_service, "carol") == [in_team]
    later_ids = [m.id for m in team_service.read_messages("carol", "later", after_id=0).messages]
    assert later_ids == []
    assert [m.id for m in team_service.read_messages("bravo", "later").messages] == [in_later]
    assert page_ids(team_service, "bravo") == []


def test_a_task_announcement_reaches_the_whole_session(team_service: Any) -> None:
    # It names no recipient and no role: stored as narrowed, it would reach no one at all.
    team_service.handoff_task("alpha", "team", HandoffRequest(title="review the diff"))
    for member in ("bravo", "carol"):
        [announced] = team_service.read_messages(member, "team").messages
        assert "review the diff" in announced.text


def test_an_expired_message_for_another_stays_hidden_from_one_it_never_was_for(
    team_service: Any, clock: Clock
) -> None:
    # Not addressed to bravo and expired: two reasons to hide it, which must not cancel out.
    request = SendMessageRequest.parse({"text": "for carol", "to": ["carol"], "ttl_s": 30})
    sent = team_service.post_message("alpha", "team", request).id
    assert page_ids(team_service, "bravo") == []
    clock.advance(30)
    assert page_ids(team_service, "bravo") == []
    with pytest.raises(NotFound):
        team_service.get_message("bravo", sent)


def test_an_expired_message_is_hidden_from_a_reader_whose_id_sorts_before_its_sender(
    team_service: Any, clock: Clock
) -> None:
    # Its sender keeps it; nobody else does, whichever way their ids compare with the sender's.
    request = SendMessageRequest.parse({"text": "from carol", "ttl_s": 30})
    sent = team_service.post_message("carol", "team", request).id
    clock.advance(30)
    assert page_ids(team_service, "bravo") == []
    assert sent in page_ids(team_service, "carol")  # beside the relay's note that it expired

"""What the service shows of a session, read straight from the store on each backend: who its
participants are and where each one's read position stands, with other sessions beside it
whose rows sort before and after it (a query that compares ids with ``>=`` instead of ``==``
would pull their rows in)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from relay_core import CreateSessionRequest, InvalidInput, InviteRequest, SendMessageRequest
from relay_server.storage import sessions


def open_session(service: Any, creator: str, name: str, *others: str) -> None:
    service.create_session(creator, CreateSessionRequest(name=name, participants=list(others)))


def test_a_session_lists_its_own_participants_and_no_one_from_the_sessions_around_it(
    team_service: Any,
) -> None:
    open_session(team_service, "dave", "earlier-looking", "erin")  # a later id
    open_session(team_service, "frank", "zeta", "grace")
    detail = team_service.get_session("alpha", "team")
    assert [p.client_id for p in detail.participants] == ["alpha", "bravo", "carol"]
    later = team_service.get_session("dave", "earlier-looking")
    assert [p.client_id for p in later.participants] == ["dave", "erin"]


def test_each_listed_session_counts_its_own_participants(team_service: Any) -> None:
    open_session(team_service, "alpha", "later", "dave")  # a later id, and fewer members
    counts = {s.name: s.participants for s in team_service.list_sessions("alpha")}
    assert counts == {"team": 3, "later": 2}


def test_each_participant_shows_its_own_read_position(team_service: Any) -> None:
    sent = team_service.post_message("alpha", "team", SendMessageRequest(text="one"))
    team_service.mark_read("bravo", "team", sent.id)
    positions = {
        p.client_id: p.last_read_id for p in team_service.get_session("carol", "team").participants
    }
    assert positions == {"alpha": 0, "bravo": sent.id, "carol": 0}


def test_a_read_position_is_the_callers_own_even_when_another_sorts_after_it(
    team_service: Any,
) -> None:
    # zed's row is written first, so a scan in insertion order meets it before bravo's.
    open_session(team_service, "zed", "late-names", "bravo")
    sent = team_service.post_message("zed", "late-names", SendMessageRequest(text="one"))
    team_service.mark_read("zed", "late-names", sent.id)
    page = team_service.read_messages("bravo", "late-names")
    assert [m.id for m in page.messages] == [sent.id]  # bravo has read nothing yet
    assert team_service.mark_read("bravo", "late-names", 0).last_read_id == 0


def members(service: Any, caller: str, name: str) -> list[str]:
    return [p.client_id for p in service.get_session(caller, name).participants]


def test_leaving_takes_out_only_the_caller_and_only_from_that_session(team_service: Any) -> None:
    open_session(team_service, "alpha", "middle", "bravo", "carol")
    open_session(team_service, "dave", "last", "bravo", "erin")
    team_service.leave("bravo", "middle")
    assert members(team_service, "alpha", "middle") == ["alpha", "carol"]  # carol sorts after
    assert members(team_service, "alpha", "team") == ["alpha", "bravo", "carol"]  # an earlier one
    assert sorted(members(team_service, "dave", "last")) == ["bravo", "dave", "erin"]  # a later one


def test_closing_a_session_leaves_the_sessions_before_and_after_it_open(
    team_service: Any,
) -> None:
    open_session(team_service, "alpha", "middle", "bravo")
    open_session(team_service, "alpha", "last", "bravo")
    assert team_service.close_session("alpha", "middle").closed_at is not None
    assert team_service.get_session("alpha", "team").closed_at is None
    assert team_service.get_session("alpha", "last").closed_at is None
    assert sorted(s.name for s in team_service.list_sessions("alpha")) == ["last", "team"]


def test_marking_read_moves_the_position_of_that_session_only(team_service: Any) -> None:
    first = team_service.post_message("alpha", "team", SendMessageRequest(text="in team"))
    open_session(team_service, "alpha", "later", "bravo")
    sent = team_service.post_message("alpha", "later", SendMessageRequest(text="in later"))
    team_service.mark_read("bravo", "later", sent.id)
    assert [m.id for m in team_service.read_messages("bravo", "team").messages] == [first.id]


def test_a_read_position_belongs_to_its_session_even_when_another_row_was_written_first(
    team_service: Any,
) -> None:
    # dave's row in "later" is written before his row in "team" (he is invited there after),
    # so a scan in insertion order meets the later session's row first.
    first = team_service.post_message("alpha", "team", SendMessageRequest(text="before dave"))
    open_session(team_service, "dave", "later", "erin")
    sent = team_service.post_message("erin", "later", SendMessageRequest(text="in later"))
    team_service.mark_read("dave", "later", sent.id)
    team_service.invite("alpha", "team", InviteRequest(clients=["dave"]))
    assert [m.id for m in team_service.read_messages("dave", "team").messages] == [first.id]


def test_inviting_a_member_again_keeps_them_as_they_are(team_service: Any) -> None:
    sent = team_service.post_message("alpha", "team", SendMessageRequest(text="one"))
    team_service.mark_read("bravo", "team", sent.id)
    before = {p.client_id: p for p in team_service.get_session("alpha", "team").participants}
    team_service.invite("alpha", "team", InviteRequest(clients=["bravo", "dave"]))
    after = {p.client_id: p for p in team_service.get_session("alpha", "team").participants}
    assert sorted(after) == ["alpha", "bravo", "carol", "dave"]
    assert after["bravo"] == before["bravo"]  # joined when it did, its read position kept


def test_a_read_position_never_moves_backward_in_the_store(team_service: Any) -> None:
    # The service compares first, in the same transaction; the store's own guard is what holds
    # when two moves race (a read page and a mark_read of one client).
    sent = [team_service.post_message("alpha", "team", SendMessageRequest(text=t)) for t in "ab"]
    session_id = sessions.session_named("team").id
    for up_to in (sent[1].id, sent[0].id):
        team_service.storage.write(partial(sessions.advance_read, session_id, "bravo", up_to))
    positions = {
        p.client_id: p.last_read_id for p in team_service.get_session("bravo", "team").participants
    }
    assert positions == {"alpha": 0, "bravo": sent[1].id, "carol": 0}


def test_a_nul_character_is_stored_on_sqlite_and_refused_on_postgresql_without_a_trace(
    team_service: Any, database_url: str
) -> None:
    request = CreateSessionRequest(name="with-nul", description="a\x00b")
    message = SendMessageRequest(text="before\x00after")
    if database_url.startswith("postgresql"):
        with pytest.raises(InvalidInput, match="NUL"):
            team_service.create_session("alpha", request)
        with pytest.raises(InvalidInput, match="NUL"):
            team_service.post_message("alpha", "team", message)
        assert [s.name for s in team_service.list_sessions("alpha")] == ["team"]
        assert team_service.read_messages("bravo", "team").messages == []
    else:
        assert team_service.create_session("alpha", request).description == "a\x00b"
        sent = team_service.post_message("alpha", "team", message)
        assert team_service.get_message("bravo", sent.id).text == "before\x00after"

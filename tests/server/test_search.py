"""Full-text search: ranking on a known corpus, visibility, filters and query mistakes.

The service runs in process on a fresh SQLite store (the search is a storage query, so its truth
does not need an adapter); the MCP and HTTP tests check the adapters' shapes and errors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay_core import (
    CreateSessionRequest,
    Forbidden,
    InvalidInput,
    InviteRequest,
    NotFound,
    SendMessageRequest,
)
from relay_core.search import SearchResults
from relay_server.service import RelayService
from relay_server.storage import open_storage
from tests.conftest import service_on


@pytest.fixture
def service(team_service: RelayService) -> RelayService:
    """Session ``team`` of alpha, bravo and carol, on each backend (tests/conftest.py)."""
    return team_service


def send(service: RelayService, sender: str, text: str, session: str = "team", to=()) -> int:
    request = SendMessageRequest.parse({"text": text, "to": list(to)})
    return service.post_message(sender, session, request).id


def ids(results: SearchResults) -> list[int]:
    return [hit.id for hit in results.hits]


def test_the_best_match_comes_first(service: RelayService) -> None:
    once = send(service, "alpha", "the migration ran on the staging database overnight")
    often = send(service, "bravo", "migration done: migration 7 and migration 8 applied")
    never = send(service, "carol", "lunch at noon?")
    short = send(service, "alpha", "migration failed")
    results = service.search_messages("carol", "migration")
    assert set(ids(results)) == {once, often, short}
    assert never not in ids(results)
    # bm25: more occurrences and a shorter text rank higher than one mention in a long text.
    assert ids(results)[-1] == once
    assert results.more is False


def test_all_words_must_occur_and_or_widens(service: RelayService) -> None:
    both = send(service, "alpha", "deploy the relay tonight")
    deploy = send(service, "alpha", "deploy the docs")
    relay = send(service, "alpha", "the relay is slow")
    assert ids(service.search_messages("bravo", "deploy relay")) == [both]
    assert set(ids(service.search_messages("bravo", "deploy OR relay"))) == {both, deploy, relay}
    if service.storage.backend == "postgresql":
        # websearch_to_tsquery: "-word" excludes, and there are no prefix queries.
        assert ids(service.search_messages("bravo", "deploy -relay")) == [deploy]
        return
    assert ids(service.search_messages("bravo", "deploy NOT relay")) == [deploy]
    assert ids(service.search_messages("bravo", "rel*")) != []


def test_a_snippet_shows_where_the_words_are(service: RelayService) -> None:
    send(service, "alpha", "one two three " * 20 + "the needle is here " + "four five " * 20)
    (hit,) = service.search_messages("bravo", "needle").hits
    assert "**needle**" in hit.snippet
    assert len(hit.snippet) < 200
    assert hit.session == "team"
    assert hit.sender == "alpha"


def test_narrowed_messages_are_found_only_by_who_may_read_them(service: RelayService) -> None:
    secret = send(service, "alpha", "the vault code is 4711", to=["bravo"])
    public = send(service, "alpha", "the vault is closed")
    assert set(ids(service.search_messages("alpha", "vault"))) == {secret, public}
    assert set(ids(service.search_messages("bravo", "vault"))) == {secret, public}
    assert ids(service.search_messages("carol", "vault")) == [public]


def test_sessions_one_is_not_in_or_has_left_are_never_searched(service: RelayService) -> None:
    service.create_session("alpha", CreateSessionRequest(name="side", participants=["bravo"]))
    inside = send(service, "alpha", "quarterly numbers", session="side")
    assert ids(service.search_messages("bravo", "quarterly")) == [inside]
    assert ids(service.search_messages("carol", "quarterly")) == []
    service.leave("bravo", "side")
    assert ids(service.search_messages("bravo", "quarterly")) == []
    with pytest.raises(Forbidden):
        service.search_messages("carol", "quarterly", session="side")
    with pytest.raises(NotFound):
        service.search_messages("carol", "quarterly", session="nowhere")


def test_filters_narrow_by_session_sender_and_time(service: RelayService) -> None:
    service.create_session("alpha", CreateSessionRequest(name="side", participants=["bravo"]))
    in_team = send(service, "alpha", "release notes")
    in_side = send(service, "bravo", "release notes", session="side")
    assert set(ids(service.search_messages("bravo", "release"))) == {in_team, in_side}
    assert ids(service.search_messages("bravo", "release", session="side")) == [in_side]
    assert ids(service.search_messages("bravo", "release", sender="alpha")) == [in_team]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert ids(service.search_messages("bravo", "release", since=future)) == []
    past = datetime.now(UTC) - timedelta(hours=1)
    assert len(service.search_messages("bravo", "release", since=past).hits) == 2


def test_limit_cuts_and_says_there_is_more(service: RelayService) -> None:
    sent = [send(service, "alpha", f"ticket {n}") for n in range(5)]
    page = service.search_messages("bravo", "ticket", limit=3)
    assert len(page.hits) == 3
    assert page.more is True
    assert set(ids(page)) <= set(sent)
    assert service.search_messages("bravo", "ticket", limit=5).more is False


@pytest.mark.parametrize(
    "query",
    ["kill-9", '"unterminated', "AND", "(", "report.pdf", "NOT", "text:", "nosuchcolumn:word"],
)
def test_a_query_the_index_cannot_parse_is_invalid_input(service: RelayService, query: str) -> None:
    """SQLite's FTS5 has a query syntax and says where a query breaks it; PostgreSQL's
    websearch_to_tsquery reads any text as a query, so there the same queries simply run."""
    send(service, "alpha", "kill 9 report pdf")
    if service.storage.backend == "postgresql":
        service.search_messages("bravo", query)
        return
    with pytest.raises(InvalidInput, match="search query"):
        service.search_messages("bravo", query)


def test_quoting_makes_punctuated_words_searchable(service: RelayService) -> None:
    sent = send(service, "alpha", "ran kill-9 on the worker, see report.pdf")
    assert ids(service.search_messages("bravo", '"kill-9"')) == [sent]
    assert ids(service.search_messages("bravo", '"report.pdf"')) == [sent]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"query": ""}, "empty"),
        ({"query": "   "}, "empty"),
        ({"query": "x" * 501}, "at most"),
        ({"query": "a\x00b"}, "NUL"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "limit": 101}, "limit"),
        ({"query": "x", "sender": "no/slash"}, "client id"),
        ({"query": "x", "since": datetime(2026, 1, 1)}, "time zone"),
    ],
)
def test_bad_arguments_are_refused(service: RelayService, arguments: dict, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        service.search_messages("alpha", **arguments)


def test_messages_stored_before_the_index_existed_are_found(tmp_path: Path) -> None:
    """The migration indexes what is already there (a relay upgraded with a full store)."""
    from relay_server.storage.dialect import execute_sql

    path = tmp_path / "relay.sqlite3"
    storage = open_storage(path)
    relay = service_on(storage)
    relay.create_session("alpha", CreateSessionRequest(name="team", participants=["bravo"]))
    old = send(relay, "alpha", "written before the upgrade")
    with storage.transaction():
        db = storage.database
        for index in ("message_text", "attachment_name"):
            execute_sql(db, f"DROP TABLE {index}")
        execute_sql(db, "DELETE FROM applied_migration WHERE name = 'm006_search'")
    storage.close()
    storage = open_storage(path)
    relay.storage = storage
    try:
        assert ids(relay.search_messages("bravo", "upgrade")) == [old]
        new = send(relay, "bravo", "and after the upgrade")
        assert set(ids(relay.search_messages("alpha", "upgrade"))) == {old, new}
    finally:
        storage.close()


def test_an_invited_client_finds_the_history_it_may_now_read(service: RelayService) -> None:
    earlier = send(service, "alpha", "the plan for friday")
    service.create_session("alpha", CreateSessionRequest(name="later", participants=[]))
    send(service, "alpha", "friday plan, later edition", session="later")
    assert ids(service.search_messages("bravo", "friday", session="team")) == [earlier]
    service.invite("alpha", "later", InviteRequest(clients=["bravo"]))
    assert len(service.search_messages("bravo", "friday").hits) == 2


def test_a_page_of_few_readable_matches_is_the_best_of_them_at_any_limit(
    service: RelayService,
) -> None:
    """Of 24 matches ranked apart (the more often the word, the better), carol may read every
    third: a page must pass over the others wherever a batch of the index's ranking ends."""
    sent = [
        send(service, "alpha", "migration " * (24 - k) + "end", to=[] if k % 3 == 2 else ["bravo"])
        for k in range(24)
    ]
    readable = sent[2::3]
    assert ids(service.search_messages("alpha", "migration", limit=24)) == sent
    for limit in range(1, 10):
        page = service.search_messages("carol", "migration", limit=limit)
        assert ids(page) == readable[:limit], limit
        assert page.more is (limit < len(readable))

"""``agent-relay search`` against a real relay: peers by name, ages for --since, text and JSON."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import click
import pytest
import requests

from relay_client import ClientConfig
from relay_client.cli.search import parse_since


@pytest.fixture
def searcher(relay, data_paths):
    """This machine onboarded as a fresh client of the test relay, in a session with a peer
    ``bob`` (in its roster) who said two things."""
    tag = uuid.uuid4().hex[:8]
    me, bob, session = f"me-{tag}", f"bob-{tag}", f"cli-search-{tag}"
    ClientConfig(relay_url=relay.url, client_id=me, token=relay.token).save(data_paths.config)
    api = relay.url + "/api/v1"

    def post(client: str, path: str, body: dict) -> dict:
        answer = requests.post(api + path, json=body, headers=relay.headers(client), timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()

    post(bob, "/sessions", {"name": session, "participants": [me]})
    word = f"walrus{tag}"
    ids = [
        post(bob, f"/sessions/{session}/messages", {"text": f"the {word} left"})["id"],
        post(me, f"/sessions/{session}/messages", {"text": f"no {word} here"})["id"],
    ]
    return {"bob": bob, "session": session, "word": word, "ids": ids}


def test_search_prints_hits_with_who_said_them(searcher, run) -> None:
    assert run("peers", "add", "bob", searcher["bob"]).exit_code == 0
    result = run("search", searcher["word"])
    assert result.exit_code == 0, result.output
    assert f"**{searcher['word']}**" in result.stdout
    assert "bob" in result.stdout
    assert "you" in result.stdout


def test_search_from_a_peer_by_roster_name(searcher, run) -> None:
    run("peers", "add", "bob", searcher["bob"])
    result = run("search", searcher["word"], "--from", "bob", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [hit["id"] for hit in body["hits"]] == [searcher["ids"][0]]


def test_search_since_an_age_and_in_one_session(searcher, run) -> None:
    recent = run("search", searcher["word"], "--since", "1h", "--session", searcher["session"])
    assert recent.exit_code == 0
    assert recent.stdout.count("#") == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    nothing = run("search", searcher["word"], "--since", future)
    assert nothing.exit_code == 0
    assert "Nothing you may read matches" in nothing.stdout


def test_a_snippet_cannot_drive_the_terminal(searcher, run, relay) -> None:
    body = {"text": f"{searcher['word']} \x1b[2J\x1b]0;pwned\x07 line\rback"}
    path = f"/api/v1/sessions/{searcher['session']}/messages"
    answer = requests.post(
        relay.url + path, json=body, headers=relay.headers(searcher["bob"]), timeout=10
    )
    assert answer.status_code == 201
    result = run("search", searcher["word"])
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "\r" not in result.stdout
    assert "\\x1b[2J" in result.stdout


def test_a_query_mistake_is_reported_not_crashed(searcher, run) -> None:
    result = run("search", "kill-9")
    assert result.exit_code != 0
    assert result.stderr.startswith("Error: invalid: search query")


@pytest.mark.parametrize("value", ["90m", "2h", "3d", "45s"])
def test_ages_are_that_long_ago(value) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[value[-1]] * int(value[:-1])
    moment = parse_since(value)
    assert abs((datetime.now(UTC) - moment).total_seconds() - seconds) < 5


def test_a_time_without_a_zone_is_utc_and_nonsense_is_refused() -> None:
    assert parse_since("2026-12-01T09:00") == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(click.BadParameter):
        parse_since("last tuesday")

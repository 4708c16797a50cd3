"""Search through the adapters: the MCP tool (TOON) and ``GET /api/v1/search`` (JSON), against a
real relay; attachment names are found; mistakes are answered as invalid_input, never a 500."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from relay_core.toon import decode_search

pytestmark = pytest.mark.anyio

API = "/api/v1"


def call(relay, client_id: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, relay.url + path, headers=relay.headers(client_id), timeout=10, **kwargs
    )


@pytest.fixture
def team(relay) -> tuple[str, str, str]:
    """A fresh session of two fresh clients: (session, alpha, bravo)."""
    tag = uuid.uuid4().hex[:8]
    session, alpha, bravo = f"search-{tag}", f"alpha-{tag}", f"bravo-{tag}"
    body = {"name": session, "participants": [bravo]}
    assert call(relay, alpha, "POST", f"{API}/sessions", json=body).status_code == 201
    return session, alpha, bravo


def send(relay, session: str, sender: str, text: str, **fields) -> int:
    body = {"text": text, **fields}
    answer = call(relay, sender, "POST", f"{API}/sessions/{session}/messages", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_http_search_answers_json_hits_best_first(relay, team) -> None:
    session, alpha, bravo = team
    word = f"zebra{uuid.uuid4().hex[:6]}"
    weak = send(relay, session, alpha, f"a long note that mentions {word} once among many words")
    strong = send(relay, session, alpha, f"{word} {word}")
    answer = call(relay, bravo, "GET", f"{API}/search", params={"q": word})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [hit["id"] for hit in body["hits"]] == [strong, weak]
    assert body["hits"][0]["session"] == session
    assert body["hits"][0]["sender"] == alpha
    assert f"**{word}**" in body["hits"][0]["snippet"]
    assert body["more"] is False


def test_an_attachment_is_found_by_its_name(relay, team) -> None:
    session, alpha, bravo = team
    data = f"numbers {uuid.uuid4()}".encode()
    digest = hashlib.sha256(data).hexdigest()
    assert call(relay, alpha, "PUT", f"/blobs/{digest}", data=data).status_code in (200, 201)
    name = f"quarterly-{uuid.uuid4().hex[:6]}.csv"
    attachment = {"sha256": digest, "filename": name}
    sent = send(relay, session, alpha, "the figures, as asked", attachments=[attachment])
    answer = call(relay, bravo, "GET", f"{API}/search", params={"q": f'"{name}"'})
    assert answer.status_code == 200, answer.text
    [hit] = answer.json()["hits"]
    assert hit["id"] == sent
    assert hit["file"] == name
    assert hit["snippet"] == "the figures, as asked"


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "x", "limit": "0"},
        {"q": "x", "limit": "many"},
        {"q": "x", "since": "yesterday"},
        {"q": "x", "since": "2026-01-01T00:00:00"},
        {"q": "x", "sender": "bad/id"},
    ],
)
def test_http_search_mistakes_are_invalid_input(relay, team, params) -> None:
    _, _, bravo = team
    answer = call(relay, bravo, "GET", f"{API}/search", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("query", ["kill-9", '"open'])
def test_a_query_fts5_cannot_parse_is_refused_on_sqlite_and_read_as_words_on_postgresql(
    relay, team, relay_backend, query
) -> None:
    _, _, bravo = team
    answer = call(relay, bravo, "GET", f"{API}/search", params={"q": query})
    if relay_backend == "sqlite":
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid"
    else:  # websearch_to_tsquery reads any text (docs/operators.md)
        assert answer.status_code == 200, answer.text
        assert answer.json()["hits"] == []


def test_http_search_of_a_session_one_is_not_in_is_forbidden(relay, team) -> None:
    session, _, _ = team
    answer = call(relay, "outsider", "GET", f"{API}/search", params={"q": "x", "session": session})
    assert answer.status_code == 403, answer.text


async def test_the_mcp_tool_answers_toon_and_refuses_mistakes(relay, team, relay_backend) -> None:
    session, alpha, bravo = team
    word = f"okapi{uuid.uuid4().hex[:6]}"
    sent = send(relay, session, alpha, f"look for the {word} here")
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": bravo}, auth=relay.token
    )
    async with Client(transport, timeout=30) as client:
        result = await client.call_tool("search_messages", {"query": word, "session": session})
        results = decode_search(result.content[0].text)
        assert [hit.id for hit in results.hits] == [sent]
        assert results.query == word
        mistake = '"open' if relay_backend == "sqlite" else ""  # PostgreSQL reads any text
        refused = await client.call_tool(
            "search_messages", {"query": mistake}, raise_on_error=False
        )
        assert refused.is_error
        assert refused.content[0].text.startswith("invalid:")

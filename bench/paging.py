"""Figure 4: reading a page of 100 messages from a small store and from a big one.

Two relays start on stores filled directly (see :func:`bench.seed.fill_store`): one session of
``scale.small_store`` messages, and one of ``scale.big_store`` (1M in the full run). A reader
pages with ``read_messages(session, after_id=random, limit=100, mark_read=false)`` over MCP and
with ``GET .../messages?after=N&limit=100`` over HTTP, alternating between the two relays call by
call so noise hits both alike. The target: the big store's p50 within 1.5x of the small one's,
which holds when the reads use indexes rather than scans. ``list_sessions`` is timed the same
way for context (it counts unread messages and finds each session's newest one).
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import Scale
from bench.seed import fill_store
from bench.stats import Latencies
from bench.wire import HttpConnection, McpSession, WireError
from relay_core.wire import session_messages_path

PAGE: Final = 100
TARGET: Final = 1.5
SESSION: Final = "paging"
WRITER: Final = "page-writer"
READER: Final = "page-reader"

Read = Callable[[int], Awaitable[None]]


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n:,}"


class Reader:
    """The reader's MCP session and HTTP connection to one relay."""

    def __init__(self, relay: Server, mcp: McpSession, http: HttpConnection, size: int) -> None:
        self.relay, self.mcp, self.http, self.size = relay, mcp, http, size

    @classmethod
    async def open(cls, relay: Server, size: int) -> Reader:
        """Connect as the reader."""
        mcp = await McpSession.open(relay.port, identity(READER))
        return cls(relay, mcp, await HttpConnection.open(relay.port), size)

    async def close(self) -> None:
        """Close both connections."""
        await self.mcp.close()
        await self.http.close()

    async def mcp_page(self, after: int) -> None:
        """``read_messages`` over MCP."""
        arguments = {"session": SESSION, "after_id": after, "limit": PAGE, "mark_read": False}
        await self.mcp.call("read_messages", arguments)

    async def http_page(self, after: int) -> None:
        """``GET .../messages`` over HTTP."""
        path = f"{session_messages_path(SESSION)}?after={after}&limit={PAGE}"
        answer = await self.http.request("GET", path, identity(READER))
        if answer.status != 200 or len(answer.json()["messages"]) != PAGE:
            raise WireError(f"GET {path}: HTTP {answer.status} {answer.body[:200]!r}")

    async def sessions(self, after: int) -> None:
        """``list_sessions`` over MCP (``after`` is ignored)."""
        await self.mcp.call("list_sessions", {})


async def _timed(read: Read, after: int) -> float:
    started = time.perf_counter()
    await read(after)
    return time.perf_counter() - started


async def alternate(
    small: Reader, big: Reader, pick: Callable[[Reader], Read], calls: int
) -> tuple[Latencies, Latencies]:
    """Time ``calls`` reads on each store, alternating, at the same random offsets."""
    rng = random.Random(4)
    times: dict[int, list[float]] = {small.size: [], big.size: []}
    for i in range(calls + 5):
        offset = rng.random()
        for reader in (small, big):
            elapsed = await _timed(pick(reader), int(offset * (reader.size - PAGE)))
            if i >= 5:  # warm-up
                times[reader.size].append(elapsed)
    return Latencies(tuple(times[small.size])), Latencies(tuple(times[big.size]))


async def paging_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 4: read_messages p50 with a big store vs a small one."""
    readers: list[Reader] = []
    fill_s: dict[int, float] = {}
    try:
        data_dirs = {}
        for size in (scale.small_store, scale.big_store):
            data_dir = data_dirs[f"paging-{size}"] = pool.workdir / f"paging-{size}"
            data_dir.mkdir(parents=True)
            started = time.perf_counter()
            fill_store(data_dir, size, SESSION, WRITER, READER)
            fill_s[size] = time.perf_counter() - started
        for relay, size in zip(
            pool.relays(data_dirs), (scale.small_store, scale.big_store), strict=True
        ):
            readers.append(await Reader.open(relay, size))
        small, big = readers
        cases: list[tuple[str, Callable[[Reader], Read], bool]] = [
            ("MCP read_messages", lambda r: r.mcp_page, True),
            ("HTTP GET messages", lambda r: r.http_page, True),
            ("MCP list_sessions", lambda r: r.sessions, False),
        ]
        rows = []
        for case, pick, targeted in cases:
            small_t, big_t = await alternate(small, big, pick, scale.page_reads)
            result = big_t.p50_ms / small_t.p50_ms
            rows.append(
                Row(
                    figure="4 page of 100",
                    case=f"{case}, {_count(big.size)} msgs",
                    value=big_t.p50_ms,
                    unit="ms",
                    baseline=small_t.p50_ms,
                    baseline_name=f"{_count(small.size)} msgs",
                    ratio=result,
                    target=f"<= {TARGET:g}x" if targeted else "",
                    passed=result <= TARGET if targeted else None,
                    details={
                        "big": big_t.summary(),
                        "small": small_t.summary(),
                        "fill_s": {str(k): round(v, 2) for k, v in fill_s.items()},
                    },
                )
            )
        return rows
    finally:
        for reader in readers:
            await reader.close()
            pool.stop(reader.relay)

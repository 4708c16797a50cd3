"""Figure 12: a full-text search over a big store, against reading one page of it.

One relay starts on a store filled directly (:func:`bench.seed.fill_store`, 1M messages in the
full run; the index is kept by the same triggers that index a sent message). Then a few messages
carrying a rare word are sent through the API. The reader, alternating call by call so noise
hits all alike, times over MCP: ``read_messages`` of a page of 100 at a random offset (the
baseline), ``search_messages`` for the rare word (a handful of hits), and for a word in one of
the fill's phrases (about a tenth of the store matches, and every match is ranked: the worst
case a person can type). INFO rows: the issue asks for the figure, not a target.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

from bench.paging import PAGE, READER, SESSION, WRITER, Reader, _count
from bench.processes import ServerPool
from bench.report import Row
from bench.scale import Scale
from bench.seed import fill_store, send
from bench.stats import Latencies

RARE: Final = "zanzibar"
COMMON: Final = "migration"
RARE_MESSAGES: Final = 5

Timed = Callable[[], Awaitable[None]]


async def search_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 12: search_messages p50 against read_messages p50, one big store, same run."""
    size = scale.big_store
    data_dir = pool.workdir / f"search-{size}"
    data_dir.mkdir(parents=True)
    started = time.perf_counter()
    fill_store(data_dir, size, SESSION, WRITER, READER)
    fill_s = time.perf_counter() - started
    [relay] = pool.relays({"search": data_dir})
    reader = None
    try:
        for n in range(RARE_MESSAGES):
            await send(relay, WRITER, SESSION, f"the {RARE} hand-off, part {n}")
        reader = await Reader.open(relay, size)
        rng = random.Random(12)

        async def page() -> None:
            await reader.mcp_page(int(rng.random() * (size - PAGE)))

        def search(word: str) -> Timed:
            async def call() -> None:
                await reader.mcp.call("search_messages", {"query": word, "limit": 20})

            return call

        cases = {"page": page, "rare": search(RARE), "common": search(COMMON)}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for i in range(scale.page_reads + 5):
            for name, timed in cases.items():
                begun = time.perf_counter()
                await timed()
                if i >= 5:  # warm-up
                    times[name].append(time.perf_counter() - begun)
        latencies = {name: Latencies(tuple(t)) for name, t in times.items()}
        base = latencies["page"]
        return [
            Row(
                figure="12 search",
                case=f"MCP search_messages, {label}, {_count(size)} msgs",
                value=latencies[name].p50_ms,
                unit="ms",
                baseline=base.p50_ms,
                baseline_name="read_messages page of 100",
                ratio=latencies[name].p50_ms / base.p50_ms,
                details={
                    "search": latencies[name].summary(),
                    "page": base.summary(),
                    "fill_s": round(fill_s, 2),
                },
            )
            for name, label in (("rare", f"{RARE_MESSAGES} hits"), ("common", "~10% match"))
        ]
    finally:
        if reader is not None:
            await reader.close()
        pool.stop(relay)

"""Figure 13: the relay's memory with a big store and many concurrent readers.

SQLite keeps a page cache per connection, and the relay has a connection per worker thread; on
a big database those caches could add up to gigabytes. A relay starts on a store of
``scale.big_store`` messages (1M in the full run, filled directly: :func:`bench.seed.fill_store`)
and 64 readers, each on its own HTTP connection, read at once for ``4 * scale.seconds``:
pages of 100 at random offsets (``GET .../messages?after=N``) and, every fourth call, the
relay's status (which counts every message, so it walks a whole index). The figure is the
relay's peak RSS (``VmHWM``) while they read, against its RSS before they started.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Final

from bench.paging import PAGE, READER, SESSION, WRITER
from bench.processes import ServerPool, identity
from bench.report import Row
from bench.scale import MiB, Scale
from bench.seed import fill_store
from bench.wire import HttpConnection, WireError
from relay_core.wire import STATUS_PATH, session_messages_path

READERS: Final = 64
LIMIT_MIB: Final = 256


async def _read(connection: HttpConnection, size: int, seed: int, until: float) -> int:
    """Read until ``until`` (perf_counter); how many calls were made."""
    rng = random.Random(seed)
    calls = 0
    while time.perf_counter() < until:
        if calls % 4 == 3:
            path = STATUS_PATH
        else:
            after = rng.randrange(max(size - PAGE, 1))
            path = f"{session_messages_path(SESSION)}?after={after}&limit={PAGE}"
        answer = await connection.request("GET", path, identity(READER))
        if answer.status != 200:
            raise WireError(f"GET {path}: HTTP {answer.status} {answer.body[:200]!r}")
        calls += 1
    return calls


async def memory_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 13: peak relay RSS with a big store and 64 concurrent readers."""
    data_dir = pool.workdir / "memory"
    data_dir.mkdir(parents=True)
    fill_store(data_dir, scale.big_store, SESSION, WRITER, READER)
    (relay,) = pool.relays({"memory": data_dir})
    connections: list[HttpConnection] = []
    try:
        connections = [await HttpConnection.open(relay.port) for _ in range(READERS)]
        before_kib = relay.memory_kib("VmRSS")
        relay.reset_peak_memory()
        until = time.perf_counter() + 4 * scale.seconds
        calls = await asyncio.gather(
            *(_read(c, scale.big_store, i, until) for i, c in enumerate(connections))
        )
        peak_mib = relay.memory_kib("VmHWM") * 1024 / MiB
    finally:
        for connection in connections:
            await connection.close()
        pool.stop(relay)
    count = f"{scale.big_store:,}"
    return [
        Row(
            figure="13 memory",
            case=f"{count} msgs, {READERS} readers: peak RSS",
            value=peak_mib,
            unit="MiB",
            baseline=before_kib * 1024 / MiB,
            baseline_name="RSS before the reads",
            ratio=peak_mib / LIMIT_MIB,
            target=f"<= {LIMIT_MIB} MiB",
            passed=peak_mib <= LIMIT_MIB,
            details={"calls": sum(calls), "store_messages": scale.big_store},
        )
    ]

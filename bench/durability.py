"""Figure 8, for context (no target): what the fsync at every send costs.

The relay commits each message with SQLite ``synchronous=FULL``, so a send that returned
survives a power cut; that costs one fsync per send, which on these machines takes a few
milliseconds and bounds figures 1 to 3. This figure runs the same relay with
``synchronous=NORMAL`` (see :mod:`bench.relay_sync_normal`; no fsync at commit, still safe
against a crash of the relay process) next to the real one, and shows HTTP sends/s and channel
push p50 on both, measured alternately. It is the number to weigh before trading durability
for speed; the relay itself has no such setting.
"""

from __future__ import annotations

from typing import Final

from bench.latency import SENDER, Sender, channel_push
from bench.processes import Server, ServerPool
from bench.report import Row
from bench.scale import Scale
from bench.seed import create_session
from bench.stats import Latencies, Operation, median, paired_ratio
from bench.throughput import compare, http_post
from bench.wire import HttpConnection
from relay_core.wire import session_messages_path

FIGURE: Final = "8 what-if: no fsync"
BASELINE_NAME: Final = "synchronous=FULL"


async def _sender(relay: Server) -> tuple[HttpConnection, Operation]:
    client = "durable-sender"
    await create_session(relay, client, client, ["durable-reader"])
    connection = await HttpConnection.open(relay.port)
    return connection, http_post(connection, session_messages_path(client), client)


async def _push(relay: Server, count: int) -> Latencies:
    session = "durable-push"
    await create_session(relay, SENDER, session, [f"{session}-recv"])
    connection = await HttpConnection.open(relay.port)
    try:
        delivery = await channel_push(relay, Sender(connection, session), session, count)
    finally:
        await connection.close()
    return delivery.latency


async def durability_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 8: HTTP sends/s and push p50 with and without the per-send fsync."""
    full = pool.shared_relay()
    normal = pool.relay("sync-normal", module="bench.relay_sync_normal")
    rows = []
    try:
        # One sender: its rate is one over its latency, which holds the fsync and little else.
        full_connection, full_send = await _sender(full)
        normal_connection, normal_send = await _sender(normal)
        try:
            full_loads, normal_loads = await compare(
                scale, (full, [full_send]), (normal, [normal_send])
            )
        finally:
            await full_connection.close()
            await normal_connection.close()
        value = median([load.rate for load in normal_loads])
        base = median([load.rate for load in full_loads])
        rows.append(
            Row(
                figure=FIGURE,
                case="HTTP send, 1 client",
                value=value,
                unit="calls/s",
                baseline=base,
                baseline_name=BASELINE_NAME,
                ratio=paired_ratio(full_loads, normal_loads),
            )
        )
        full_push = await _push(full, scale.latency_messages)
        normal_push = await _push(normal, scale.latency_messages)
        rows.append(
            Row(
                figure=FIGURE,
                case="channel push p50",
                value=normal_push.p50_ms,
                unit="ms",
                baseline=full_push.p50_ms,
                baseline_name=BASELINE_NAME,
                ratio=normal_push.p50_ms / full_push.p50_ms,
                details={"normal": normal_push.summary(), "full": full_push.summary()},
            )
        )
    finally:
        pool.stop(normal)
    return rows

"""Figure 15: the relay on PostgreSQL, one replica and two, beside SQLite in the same run.

Three relays run at once: one on SQLite (the baseline), two on one fresh PostgreSQL schema
(``RELAY_BENCH_POSTGRES``, default the test server ``postgresql://postgres@127.0.0.1:5432/test``;
the figure is SKIP when it cannot be reached). Each round drives 8 HTTP senders, each in its own
session, against the SQLite relay, then against replica 1 alone, then split over both replicas
(even senders on one, odd on the other); rates are paired by round, as in figures 1 and 2.
The latency row is an HTTP long poll parked on replica 2 woken by a send on replica 1
(LISTEN/NOTIFY), against the same long poll and send on the SQLite relay. No targets: these
rows show what PostgreSQL costs and what a second replica brings, as ratios.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Final

from bench.latency import SENDER, Sender, http_long_poll
from bench.processes import Server, ServerPool
from bench.report import Row
from bench.scale import Scale
from bench.seed import create_session
from bench.stats import Load, Operation, drive, median, paired_ratio
from bench.throughput import http_post
from bench.wire import HttpConnection
from relay_core.wire import session_messages_path

POSTGRES: Final = os.environ.get(
    "RELAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
SENDERS: Final = 8
FIGURE: Final = "15 PostgreSQL"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A database URL whose tables go to a new schema, dropped afterwards."""
    import psycopg

    admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    schema = f"relay_bench_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


async def _senders(
    relays: Sequence[Server], prefix: str
) -> tuple[list[Operation], list[HttpConnection]]:
    """``SENDERS`` HTTP senders, sender i on ``relays[i % len(relays)]``, each in its session."""
    operations, connections = [], []
    for i in range(SENDERS):
        name = f"{prefix}-{i}"
        await create_session(relays[0], name, name, [f"{prefix}-reader"])
        connection = await HttpConnection.open(relays[i % len(relays)].port)
        connections.append(connection)
        operations.append(http_post(connection, session_messages_path(name), name))
    return operations, connections


def _rate_row(case: str, loads: list[Load], base: list[Load]) -> Row:
    return Row(
        figure=FIGURE,
        case=case,
        value=median([load.rate for load in loads]),
        unit="calls/s",
        baseline=median([load.rate for load in base]),
        baseline_name="SQLite relay",
        ratio=paired_ratio(base, loads),
        details={"rounds": [load.summary() for load in loads]},
    )


async def _wake_row(scale: Scale, sqlite: Server, replicas: Sequence[Server]) -> Row:
    """p50 of a send on one relay to a long poll's answer on the other, vs SQLite alone."""
    count = max(10, scale.latency_messages // 5)
    results = []
    for sending, waiting in ((sqlite, sqlite), (replicas[0], replicas[1])):
        session = f"wake-{waiting.name}"
        await create_session(sending, SENDER, session, [f"{session}-recv"])
        connection = await HttpConnection.open(sending.port)
        try:
            results.append(
                await http_long_poll(waiting, Sender(connection, session), session, count)
            )
        finally:
            await connection.close()
    base, value = results[0].latency, results[1].latency
    return Row(
        figure=FIGURE,
        case="send on replica 1 -> long poll on 2, p50",
        value=value.p50_ms,
        unit="ms",
        baseline=base.p50_ms,
        baseline_name="one SQLite relay",
        ratio=value.p50_ms / base.p50_ms,
        note=f"the send alone: p50 {results[1].send.p50_ms:.2f} ms on PostgreSQL,"
        f" {results[0].send.p50_ms:.2f} ms on SQLite",
        details={"latency": value.summary(), "baseline": base.summary()},
    )


async def postgres_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 15 (see the module)."""
    with ExitStack() as cleanup:
        try:
            url = cleanup.enter_context(fresh_schema())
        except Exception as error:  # no driver, or no server
            return [Row.skip(FIGURE, "-", f"PostgreSQL at {POSTGRES} is not reachable: {error}")]
        servers: list[Server] = []
        try:
            sqlite = pool.relay("pg-figure-sqlite")
            env = {"RELAY_DATABASE_URL": url}
            replicas = [pool.relay(f"pg-replica-{n}", env=env) for n in (1, 2)]
            servers = [sqlite, *replicas]
            rows = await _send_rows(scale, sqlite, replicas)
            return [*rows, await _wake_row(scale, sqlite, replicas)]
        finally:
            for server in servers:
                pool.stop(server)
    raise AssertionError("unreachable")


async def _send_rows(scale: Scale, sqlite: Server, replicas: Sequence[Server]) -> list[Row]:
    groups = {
        "sqlite": await _senders([sqlite], "pg-fig-sqlite"),
        "one": await _senders(replicas[:1], "pg-fig-one"),
        "two": await _senders(replicas, "pg-fig-two"),
    }
    loads: dict[str, list[Load]] = {name: [] for name in groups}
    try:
        for _ in range(scale.rounds):
            for name, (operations, _) in groups.items():
                server = sqlite if name == "sqlite" else replicas[0]
                loads[name].append(await drive(operations, server, scale.seconds, scale.warmup_s))
    finally:
        for _, connections in groups.values():
            for connection in connections:
                await connection.close()
    return [
        _rate_row(f"HTTP send, {SENDERS} clients, 1 replica", loads["one"], loads["sqlite"]),
        _rate_row(f"HTTP send, {SENDERS} clients, 2 replicas", loads["two"], loads["sqlite"]),
    ]

"""Figures 1 and 2: how many sends per second the relay takes, against its bare stack.

1. MCP ``send_message`` against the baseline's MCP ``echo`` tool: same FastMCP app, transport,
   auth middleware and uvicorn options; the difference is the relay's own work (validation, the
   thread hop, one SQLite transaction with an fsync, the wake-up, the access log).
2. ``POST /api/v1/sessions/{name}/messages`` against the baseline's ``POST /api/v1/echo``, a bare
   Starlette JSON route mounted in the same place behind the same middleware.

Each case runs baseline and relay back to back, ``scale.rounds`` times. The values shown are the
medians of the rounds; the ratio is the median of each round's own ratio, so a slow moment of
the machine hits both sides of a pair.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from bench.baseline import ECHO_PATH
from bench.fsync_floor import COMMITS, measure_fsync_floor
from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import Scale
from bench.seed import SEND_TEXT, create_session
from bench.stats import Latencies, Load, Operation, drive, median, paired_ratio, ratio
from bench.wire import HttpConnection, McpSession, WireError
from relay_core.wire import session_messages_path

CLIENT_COUNTS = (1, 8)
MCP_TARGET = 0.8
HTTP_TARGET = 0.7
LATENCY_SLACK_MS = 0.5
"""1 client: a send's p50 may exceed the bare call's p50 plus the fsync floor's by this much."""
MCP_CPU_TARGET = 2.0
HTTP_CPU_TARGET = 3.0
"""Server CPU per send, at most this many times the bare call's."""


async def mcp_senders(relay: Server, count: int, prefix: str) -> list[McpSession]:
    """``count`` MCP sessions of clients ``{prefix}-{i}``, each in its own session of that name."""
    sessions = []
    for i in range(count):
        client = f"{prefix}-{i}"
        await create_session(relay, client, client, [f"{prefix}-reader"])
        sessions.append(await McpSession.open(relay.port, identity(client)))
    return sessions


def mcp_send(session: McpSession, name: str) -> Operation:
    """One ``send_message`` call into session ``name``."""

    async def operation() -> None:
        await session.call("send_message", {"session": name, "text": SEND_TEXT})

    return operation


def mcp_echo(session: McpSession) -> Operation:
    """One call of the baseline's ``echo`` tool with the same arguments."""

    async def operation() -> None:
        await session.call("echo", {"session": "bench", "text": SEND_TEXT})

    return operation


def http_post(connection: HttpConnection, path: str, client: str) -> Operation:
    """One JSON POST of a message body; anything but a 2xx answer fails the run."""
    headers = {**identity(client), "Content-Type": "application/json"}
    body = json.dumps({"text": SEND_TEXT}).encode()

    async def operation() -> None:
        answer = await connection.request("POST", path, headers, body)
        if answer.status >= 300:
            raise WireError(f"POST {path}: HTTP {answer.status} {answer.body[:200]!r}")

    return operation


async def compare(
    scale: Scale,
    baseline: tuple[Server, Sequence[Operation]],
    subject: tuple[Server, Sequence[Operation]],
) -> tuple[list[Load], list[Load]]:
    """Measure baseline then subject, ``scale.rounds`` times."""
    base_loads, subject_loads = [], []
    for _ in range(scale.rounds):
        base_loads.append(await drive(baseline[1], baseline[0], scale.seconds, scale.warmup_s))
        subject_loads.append(await drive(subject[1], subject[0], scale.seconds, scale.warmup_s))
    return base_loads, subject_loads


def throughput_row(
    figure: str,
    case: str,
    loads: tuple[list[Load], list[Load]],
    baseline_name: str,
    target: float,
) -> Row:
    """A calls/s row from paired measurements (medians of the rounds and of their ratios)."""
    base_loads, subject_loads = loads
    value = median([load.rate for load in subject_loads])
    base = median([load.rate for load in base_loads])
    result = paired_ratio(base_loads, subject_loads)
    return Row(
        figure=figure,
        case=case,
        value=value,
        unit="calls/s",
        baseline=base,
        baseline_name=baseline_name,
        ratio=result,
        target=f">= {target:g}x",
        passed=result >= target,
        details={
            "server_cpu_ms_per_call": median(
                [load.server_cpu_ms_per_call for load in subject_loads]
            ),
            "baseline_server_cpu_ms_per_call": median(
                [load.server_cpu_ms_per_call for load in base_loads]
            ),
            "rounds": [load.summary() for load in subject_loads],
            "baseline_rounds": [load.summary() for load in base_loads],
        },
    )


Workers = tuple[list[Operation], list[Operation], list[McpSession | HttpConnection]]
"""Baseline operations, relay operations, and the connections to close afterwards."""
Connect = Callable[[Server, Server, int], Awaitable[Workers]]


async def mcp_workers(baseline: Server, relay: Server, count: int) -> Workers:
    """MCP ``echo`` callers on the baseline; ``send_message`` callers on the relay."""
    # The bare FastMCP baseline takes 2026-07-28; its sessions skip Claude Code's probe.
    echo = [
        await McpSession.open(baseline.port, identity(f"echo-{i}"), probe=False)
        for i in range(count)
    ]
    senders = await mcp_senders(relay, count, f"mcp-send-{count}")
    return (
        [mcp_echo(s) for s in echo],
        [mcp_send(s, f"mcp-send-{count}-{i}") for i, s in enumerate(senders)],
        [*echo, *senders],
    )


async def http_workers(baseline: Server, relay: Server, count: int) -> Workers:
    """JSON posters to the baseline's echo route; HTTP API senders on the relay."""
    prefix = f"http-send-{count}"
    for i in range(count):
        await create_session(relay, f"{prefix}-{i}", f"{prefix}-{i}", [f"{prefix}-reader"])
    base = [await HttpConnection.open(baseline.port) for _ in range(count)]
    subject = [await HttpConnection.open(relay.port) for _ in range(count)]
    return (
        [http_post(c, ECHO_PATH, f"echo-{i}") for i, c in enumerate(base)],
        [
            http_post(c, session_messages_path(f"{prefix}-{i}"), f"{prefix}-{i}")
            for i, c in enumerate(subject)
        ],
        [*base, *subject],
    )


def latency_row(
    figure: str, loads: tuple[list[Load], list[Load]], floor: Latencies, baseline_name: str
) -> Row:
    """1 client: the send's p50 against the bare call's p50 plus the fsync floor's p50."""
    base_loads, subject_loads = loads
    value = median([load.latencies.p50_ms for load in subject_loads])
    bare = median([load.latencies.p50_ms for load in base_loads])
    budget = bare + floor.p50_ms + LATENCY_SLACK_MS
    return Row(
        figure=figure,
        case="1 client, p50",
        value=value,
        unit="ms",
        baseline=budget,
        baseline_name=f"{baseline_name} {bare:.2f} + fsync {floor.p50_ms:.2f} + 0.5",
        ratio=ratio(value, budget),
        target="<= bare + fsync + 0.5 ms",
        passed=value <= budget,
        details={"bare_p50_ms": bare, "fsync_floor": floor.summary()},
    )


def cpu_row(
    figure: str, case: str, loads: tuple[list[Load], list[Load]], name: str, target: float
) -> Row:
    """Server CPU per send against the bare call's, in the same rounds."""
    base_loads, subject_loads = loads
    value = median([load.server_cpu_ms_per_call for load in subject_loads])
    base = median([load.server_cpu_ms_per_call for load in base_loads])
    return Row(
        figure=figure,
        case=f"{case}, server CPU/call",
        value=value,
        unit="ms",
        baseline=base,
        baseline_name=name,
        ratio=ratio(value, base),
        target=f"<= {target:g}x",
        passed=value <= base * target,
    )


async def _figure(
    scale: Scale,
    pool: ServerPool,
    figure: str,
    names: tuple[str, str],
    targets: tuple[float, float],
    connect: Connect,
) -> list[Row]:
    baseline_name, short_name = names
    rate_target, cpu_target = targets
    baseline, relay = pool.baseline(), pool.shared_relay()
    commits = COMMITS.get(scale.name, COMMITS["quick"])
    rows = []
    for count in CLIENT_COUNTS:
        base_ops, relay_ops, connections = await connect(baseline, relay, count)
        try:
            before = measure_fsync_floor(pool.workdir / "fsync-floor", commits)
            loads = await compare(scale, (baseline, base_ops), (relay, relay_ops))
            after = measure_fsync_floor(pool.workdir / "fsync-floor", commits)
        finally:
            for connection in connections:
                await connection.close()
        case = f"{count} client" + ("s" if count > 1 else "")
        rows.append(throughput_row(figure, case, loads, baseline_name, rate_target))
        if count == 1:
            floor = Latencies(before.samples + after.samples)
            rows.append(latency_row(figure, loads, floor, short_name))
        rows.append(cpu_row(figure, case, loads, short_name, cpu_target))
    return rows


async def mcp_send_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 1: MCP ``send_message`` calls/s vs the bare FastMCP echo tool."""
    return await _figure(
        scale,
        pool,
        "1 MCP send_message",
        ("echo tool", "echo"),
        (MCP_TARGET, MCP_CPU_TARGET),
        mcp_workers,
    )


async def http_send_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 2: HTTP API sends/s vs a bare Starlette JSON route."""
    return await _figure(
        scale,
        pool,
        "2 HTTP send",
        ("JSON route", "route"),
        (HTTP_TARGET, HTTP_CPU_TARGET),
        http_workers,
    )

"""Measuring: percentiles, a closed-loop load driver, and the server CPU a measurement cost.

Throughput is measured closed-loop: each worker makes one call after another for a fixed
window, after a warm-up, and only calls that *finish* inside the window count. The same window
brackets a reading of the server's CPU time, so a figure also says how much server CPU one call
took; that number does not depend on how fast the client is.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench.processes import Server

Operation = Callable[[], Awaitable[object]]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    """The median; NaN for no values."""
    return statistics.median(values) if values else math.nan


@dataclass(frozen=True)
class Latencies:
    """A set of durations in seconds, summarised in milliseconds."""

    samples: tuple[float, ...]

    @property
    def p50_ms(self) -> float:
        """Median, ms."""
        return percentile(self.samples, 50) * 1000

    @property
    def p99_ms(self) -> float:
        """99th percentile, ms."""
        return percentile(self.samples, 99) * 1000

    def summary(self) -> dict[str, float]:
        """p50, p90, p99 and max in ms, and the sample count."""
        return {
            "n": len(self.samples),
            "p50_ms": round(self.p50_ms, 3),
            "p90_ms": round(percentile(self.samples, 90) * 1000, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(max(self.samples, default=math.nan) * 1000, 3),
        }


@dataclass(frozen=True)
class Load:
    """One closed-loop measurement window."""

    calls: int
    seconds: float
    latencies: Latencies
    server_cpu_s: float
    client_cpu_s: float

    @property
    def rate(self) -> float:
        """Calls per second."""
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_ms_per_call(self) -> float:
        """Server CPU per call, ms."""
        return self.server_cpu_s * 1000 / self.calls if self.calls else math.nan

    def summary(self) -> dict[str, float]:
        """The numbers worth keeping in the results file."""
        return {
            "calls_per_s": round(self.rate, 1),
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "server_cpu_ms_per_call": round(self.server_cpu_ms_per_call, 3),
            "server_cpu_share": round(self.server_cpu_s / self.seconds, 3),
            "client_cpu_share": round(self.client_cpu_s / self.seconds, 3),
            **self.latencies.summary(),
        }


async def drive(
    operations: Sequence[Operation], server: Server, seconds: float, warmup_s: float
) -> Load:
    """Run each operation in its own loop, concurrently; measure ``seconds`` after a warm-up.

    Each operation is one worker (one connection or MCP session); a worker never has more than
    one call in flight. The first failing call stops the run and is raised. Each operation runs
    once before the clock starts: a server's first call of a kind can take far longer than a
    short warm-up (FastMCP builds a tool's validators on first use).
    """
    for operation in operations:
        await operation()
    stopping = asyncio.Event()
    finished: list[tuple[float, float]] = []  # (end, duration) of every call

    async def worker(operation: Operation) -> None:
        while not stopping.is_set():
            started = time.perf_counter()
            await operation()
            ended = time.perf_counter()
            finished.append((ended, ended - started))

    tasks = [asyncio.create_task(worker(op)) for op in operations]
    try:
        await _sleep_unless_failed(tasks, warmup_s)
        window_start, cpu_start = time.perf_counter(), server.cpu_seconds()
        client_start = time.process_time()
        await _sleep_unless_failed(tasks, seconds)
        window_end, cpu_end = time.perf_counter(), server.cpu_seconds()
        client_end = time.process_time()
        stopping.set()
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    inside = [d for end, d in finished if window_start <= end <= window_end]
    return Load(
        calls=len(inside),
        seconds=window_end - window_start,
        latencies=Latencies(tuple(inside)),
        server_cpu_s=cpu_end - cpu_start,
        client_cpu_s=client_end - client_start,
    )


async def _sleep_unless_failed(tasks: Sequence[asyncio.Task[None]], seconds: float) -> None:
    """Sleep ``seconds``, but raise at once the error of a worker that failed."""
    done, _ = await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()


async def until_quiet(
    server: Server, share: float = 0.05, interval_s: float = 0.3, timeout_s: float = 30.0
) -> None:
    """Wait until ``server`` uses less than ``share`` of a core over ``interval_s``.

    After firing off many requests this is how the bench knows the server has taken them all
    in: it stops using CPU once they are parked.

    Raises:
        TimeoutError: the server stayed busy for ``timeout_s``.
    """
    async with asyncio.timeout(timeout_s):
        while True:
            before = server.cpu_seconds()
            await asyncio.sleep(interval_s)
            if server.cpu_seconds() - before < share * interval_s:
                return


def paired_ratio(baselines: Sequence[Load], subjects: Sequence[Load]) -> float:
    """The median, over rounds, of subject rate / baseline rate measured in the same round.

    Pairing by round keeps a slow minute of the machine from landing on one side only: the
    load from other tenants here changes within a figure, by 3x at times.
    """
    return median([ratio(s.rate, b.rate) for b, s in zip(baselines, subjects, strict=True)])


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``; NaN when the baseline is zero or missing."""
    return value / baseline if baseline else math.nan

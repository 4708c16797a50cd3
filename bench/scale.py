"""How big and how long each figure runs: full (under ten minutes), quick (under one), smoke."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Scale:
    """The sizes of one bench run."""

    name: str
    rounds: int
    """Baseline/relay measurement pairs per throughput figure; the median is reported."""
    seconds: float
    """Measuring window of one throughput measurement."""
    warmup_s: float
    latency_messages: int
    """Messages per send-to-receive latency figure."""
    small_store: int
    big_store: int
    """Messages in the small and big store of the paging figure."""
    page_reads: int
    """read_messages calls per store size."""
    blob_bytes: int
    waiters: int
    toon_messages: int = 100
    cli_runs: int = 30
    """Timed runs of each ``agent-relay`` start case (figure 10)."""


FULL = Scale(
    name="full",
    rounds=3,
    seconds=5.0,
    warmup_s=1.0,
    latency_messages=1000,
    small_store=1000,
    big_store=1_000_000,
    page_reads=300,
    blob_bytes=1024 * MiB,
    waiters=500,
)
QUICK = Scale(
    name="quick",
    rounds=1,
    seconds=1.0,
    warmup_s=0.3,
    latency_messages=100,
    small_store=1000,
    big_store=100_000,
    page_reads=50,
    blob_bytes=64 * MiB,
    waiters=250,
    cli_runs=10,
)
SMOKE = Scale(
    name="smoke",
    rounds=1,
    seconds=0.3,
    warmup_s=0.1,
    latency_messages=5,
    small_store=100,
    big_store=1000,
    page_reads=5,
    blob_bytes=1 * MiB,
    waiters=10,
    toon_messages=20,
    cli_runs=3,
)
SCALES = {s.name: s for s in (FULL, QUICK, SMOKE)}

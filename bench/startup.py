"""Figure 14: how soon a relay answers after it starts, and what its first MCP call costs.

An agent meets a relay that was just (re)started: a Claude Code reconnects after a restart and
makes its first tool call. Each round runs, in turn, fresh processes of:

- ``python -c pass``, the bare start (for context);
- ``python -c "import uvicorn, starlette.applications; from fastmcp import FastMCP"``, a bare
  start plus the import of the serving stack alone: the baseline of the relay's start;
- the bench's bare FastMCP server (:mod:`bench.baseline`), timed from spawn to its first
  ``/healthz`` 200 (for context: the same stack serving an echo tool);
- the relay (``python -m relay_server serve``, as :mod:`bench.processes` runs it), timed from
  spawn to its first ``/healthz`` 200 (polled every 5 ms). Then a fresh MCP client (the lean
  client of :mod:`bench.wire`, over real HTTP, connecting as Claude Code does) times its first
  ``send_message`` and its second; the relay is stopped before the next case.

Targets: start to ``/healthz`` <= 5x the stack import, first tool call <= 50 ms (the second
call is shown as its baseline). The relay keeps one data directory across rounds, as a restart
does; an untimed first round creates it, the session and every process's bytecode cache (see
:mod:`bench.cli_start` for why the children get a bytecode cache of their own).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.cli_start import run_once
from bench.processes import REPO_ROOT, TOKEN, ServerPool, _answers_health, free_port, identity
from bench.report import Row
from bench.scale import Scale
from bench.stats import median
from bench.wire import LOOPBACK, McpSession

START_FIGURE: Final = "14 relay start"
CALL_FIGURE: Final = "14 first tool call"
STACK_NAME: Final = "python + import of the serving stack"
STACK_IMPORT: Final = "import uvicorn, starlette.applications; from fastmcp import FastMCP"
START_TARGET: Final = 5.0
"""Start to /healthz, in multiples of the stack import."""
FIRST_CALL_TARGET_MS: Final = 50.0
SENDER: Final = "startup-sender"
SESSION: Final = "startup"
HEALTH_POLL_S: Final = 0.005
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0


@dataclass
class Rounds:
    """Every timed round's durations in seconds, by case."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def add(self, case: str, seconds: float) -> None:
        """Record one duration of ``case``."""
        self.times.setdefault(case, []).append(seconds)

    def median_ms(self, case: str) -> float:
        """The median of ``case`` in milliseconds."""
        return median(self.times[case]) * 1000

    def details(self, case: str) -> dict[str, float]:
        """Runs, min and max of ``case``, for the results file."""
        values = self.times[case]
        return {"runs": len(values), "min_ms": min(values) * 1000, "max_ms": max(values) * 1000}


def environment(pycache: Path) -> dict[str, str]:
    """The children's environment: the relay's defaults (``RELAY_TOKEN`` and no other
    ``RELAY_*``), and a bytecode cache of their own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RELAY_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(RELAY_TOKEN=TOKEN, PYTHONPYCACHEPREFIX=str(pycache))
    return env


def spawn_to_health(
    command: Sequence[str], env: Mapping[str, str], port: int, log_path: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server on ``port``; the process and the seconds until ``/healthz`` said 200.

    Raises:
        RuntimeError: it exited, or did not answer in time (it is stopped then).
    """
    started = time.perf_counter()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    while not _answers_health(port):
        if process.poll() is not None:
            raise RuntimeError(f"{command[2]} exited at start; see {log_path}")
        if time.perf_counter() - started > START_TIMEOUT_S:
            stop(process)
            raise RuntimeError(f"{command[2]} did not answer in {START_TIMEOUT_S:g}s")
        time.sleep(HEALTH_POLL_S)
    return process, time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


async def timed_call(session: McpSession, tool: str, arguments: Mapping[str, object]) -> float:
    """Seconds one tool call took."""
    started = time.perf_counter()
    await session.call(tool, arguments)
    return time.perf_counter() - started


async def first_calls(port: int, setup: bool) -> tuple[float, float]:
    """A fresh MCP client's first and second ``send_message``, in seconds.

    With ``setup`` (the untimed round) it first creates the session they send into.
    """
    session = await McpSession.open(port, identity(SENDER))
    try:
        if setup:
            await session.call("create_session", {"name": SESSION, "participants": ["reader"]})
        arguments = {"session": SESSION, "text": "build 4127 is green"}
        first = await timed_call(session, "send_message", arguments)
        second = await timed_call(session, "send_message", arguments)
    finally:
        await session.close()
    return first, second


async def relay_round(
    command: Sequence[str], env: Mapping[str, str], log_path: Path, rounds: Rounds | None
) -> None:
    """Start the relay, time it to ``/healthz`` and its first calls, stop it.

    ``rounds`` None is the untimed round that creates the session.
    """
    port = free_port()
    process, to_health = await asyncio.to_thread(spawn_to_health, command, env, port, log_path)
    try:
        first, second = await first_calls(port, setup=rounds is None)
    finally:
        await asyncio.to_thread(stop, process)
    if rounds is not None:
        rounds.add("relay", to_health)
        rounds.add("first call", first)
        rounds.add("second call", second)


async def one_round(workdir: Path, env: Mapping[str, str], rounds: Rounds | None) -> None:
    """Every case once, in turn."""
    cases = {"pass": "pass", "stack": STACK_IMPORT}
    for case, code in cases.items():
        seconds = await asyncio.to_thread(run_once, [sys.executable, "-c", code], env)
        if rounds is not None:
            rounds.add(case, seconds)
    bare = [sys.executable, "-m", "bench.baseline"]
    process, to_health = await asyncio.to_thread(
        spawn_to_health, bare, env, free_port(), workdir / "bare.log"
    )
    await asyncio.to_thread(stop, process)
    if rounds is not None:
        rounds.add("bare", to_health)
    relay = [sys.executable, "-m", "relay_server", "serve", "--data-dir", str(workdir / "data")]
    await relay_round([*relay, "--host", LOOPBACK], env, workdir / "relay.log", rounds)


def rows(rounds: Rounds) -> list[Row]:
    """The figure's rows from every timed round."""
    stack = rounds.median_ms("stack")
    relay = rounds.median_ms("relay")
    bare = rounds.median_ms("bare")
    first, second = rounds.median_ms("first call"), rounds.median_ms("second call")
    start = Row(
        figure=START_FIGURE,
        case="start to /healthz",
        value=relay,
        unit="ms",
        baseline=stack,
        baseline_name=STACK_NAME,
        ratio=relay / stack,
        target=f"<= {START_TARGET:g}x base",
        passed=relay / stack <= START_TARGET,
        note=f"python -c pass: {rounds.median_ms('pass'):.0f} ms",
        details={case: rounds.details(case) for case in ("relay", "stack", "pass")},
    )
    bare_row = Row(
        figure=START_FIGURE,
        case="bare FastMCP server to /healthz",
        value=bare,
        unit="ms",
        baseline=stack,
        baseline_name=STACK_NAME,
        ratio=bare / stack,
        details=rounds.details("bare"),
    )
    call = Row(
        figure=CALL_FIGURE,
        case="first send_message after start",
        value=first,
        unit="ms",
        baseline=second,
        baseline_name="the second call",
        ratio=first / second,
        target=f"<= {FIRST_CALL_TARGET_MS:g} ms",
        passed=first <= FIRST_CALL_TARGET_MS,
        note="a fresh MCP client, right after /healthz answered",
        details={case: rounds.details(case) for case in ("first call", "second call")},
    )
    return [start, bare_row, call]


async def startup_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 14: relay start to ``/healthz`` and its first tool call, against same-run
    baselines. Starts and stops its own processes (the shared pool is not used)."""
    workdir = pool.workdir / "startup"
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    env = environment(workdir / "pycache")
    await one_round(workdir, env, None)
    rounds = Rounds()
    for _ in range(max(1, scale.cli_runs // 3)):
        await one_round(workdir, env, rounds)
    return rows(rounds)

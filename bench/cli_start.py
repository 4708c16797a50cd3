"""Figure 10: how long the ``agent-relay`` command takes to start, against a bare Python.

Claude Code skills run ``agent-relay`` once per action, so its start-up is paid every time. Each
case is a fresh process, timed from spawn to exit, and its median is set against the median of
``python -c pass`` from the same interpreter, timed in the same rounds: the cases run in turn,
round after round, so a machine that gets busier slows them all alike.

- ``import relay_client`` and ``--help`` are shown for context (``--help`` imports every
  command's module to list them);
- ``--version`` must stay within 8x the bare start, ``send`` (one message to a running relay on
  127.0.0.1, with this machine's config in a temporary data root) within 12x.

The children write and reuse bytecode in a cache of their own (``PYTHONPYCACHEPREFIX``), with one
untimed run of each case first: a user's installed command runs from bytecode, and a shell that
sets ``PYTHONDONTWRITEBYTECODE`` would otherwise time the compiler instead of the imports.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from bench.processes import TOKEN, ServerPool
from bench.report import Row
from bench.scale import Scale
from bench.seed import create_session
from bench.stats import median
from relay_client import ClientConfig, DataPaths

FIGURE: Final = "10 CLI start"
BASELINE_NAME: Final = "python -c pass"
SENDER: Final = "cli-start-sender"
SESSION: Final = "cli-start"
TARGETS: Final = {"--version": 8.0, "send": 12.0}
"""Case -> the most its median may be, in multiples of the bare start's median."""
RUN_TIMEOUT_S: Final = 60.0


def agent_relay() -> Path:
    """The ``agent-relay`` console script installed beside this interpreter."""
    return Path(sys.executable).with_name("agent-relay")


def commands(session: str) -> dict[str, list[str]]:
    """Each case's command line; the first is the baseline."""
    script = str(agent_relay())
    return {
        "pass": [sys.executable, "-c", "pass"],
        "import relay_client": [sys.executable, "-c", "import relay_client"],
        "--version": [script, "--version"],
        "--help": [script, "--help"],
        "send": [script, "send", session, "build 4127 is green"],
    }


def child_environment(data_root: Path, pycache: Path) -> dict[str, str]:
    """The caller's environment with a data root of our own and bytecode caching on."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["CLAUDE_USER_DATA"] = str(data_root)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_once(command: Sequence[str], env: Mapping[str, str]) -> float:
    """Run ``command`` to its end; its wall time in seconds.

    Raises:
        RuntimeError: it failed (the message holds its stderr).
    """
    started = time.perf_counter()
    finished = subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        stderr = finished.stderr.decode(errors="replace")[-1000:]
        raise RuntimeError(f"{' '.join(command[-3:])} exited {finished.returncode}: {stderr}")
    return elapsed


def time_commands(
    cases: Mapping[str, Sequence[str]], env: Mapping[str, str], runs: int
) -> dict[str, list[float]]:
    """Wall times of ``runs`` runs of each case, after one untimed run of each, interleaved."""
    for command in cases.values():
        run_once(command, env)
    times: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(runs):
        for case, command in cases.items():
            times[case].append(run_once(command, env))
    return times


def start_row(case: str, times: list[float], baseline: float) -> Row:
    """One case's median in ms next to the bare start's, with its target if it has one."""
    value = median(times) * 1000
    ratio = value / baseline
    limit = TARGETS.get(case)
    return Row(
        figure=FIGURE,
        case=f"agent-relay {case}" if case in ("--version", "--help", "send") else case,
        value=value,
        unit="ms",
        baseline=baseline,
        baseline_name=BASELINE_NAME,
        ratio=ratio,
        target=f"<= {limit:g}x base" if limit is not None else "",
        passed=None if limit is None else ratio <= limit,
        note="" if case != "send" else "one message to a running relay on 127.0.0.1",
        details={"runs": len(times), "min_ms": min(times) * 1000, "max_ms": max(times) * 1000},
    )


async def cli_start_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 10: median start-to-exit times of ``agent-relay`` commands, against a bare start."""
    if not agent_relay().exists():
        return [Row.skip(FIGURE, "-", f"no agent-relay script beside {sys.executable}")]
    relay = pool.shared_relay()
    await create_session(relay, SENDER, SESSION, [f"{SESSION}-reader"])
    data_root = pool.workdir / "cli-start" / "claude-data"
    config = ClientConfig(relay_url=f"http://127.0.0.1:{relay.port}", client_id=SENDER, token=TOKEN)
    config.save(DataPaths(data_root / "agent-relay").config)
    env = child_environment(data_root, pool.workdir / "cli-start" / "pycache")
    cases = commands(SESSION)
    times = await asyncio.to_thread(time_commands, cases, env, scale.cli_runs)
    baseline = median(times.pop("pass")) * 1000
    return [start_row(case, case_times, baseline) for case, case_times in times.items()]

"""Several mutants at once: one cosmic-ray HTTP worker per copy of the checkout.

cosmic-ray mutates a module in place and runs the tests where the worker runs, so each worker
has a copy of its own; ``cosmic-ray exec`` hands each a mutant as it finishes the last one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

WORKER = Path(__file__).resolve().parent / "http_worker.py"
START_TIMEOUT_S = 120.0
"""The first start of cosmic-ray's Python may install it."""


def free_port() -> int:
    """A port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(port: int, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"a mutation worker exited as it started (code {worker.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise SystemExit(f"a mutation worker did not listen on port {port} in {START_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def serving(checkouts: Sequence[Path], python: Sequence[str]) -> Iterator[list[str]]:
    """A worker in each checkout, run with ``python`` (cosmic-ray's), logging to
    ``.mutation/worker.log`` there; their URLs. The workers stop when the block ends."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for checkout in checkouts:
            port = free_port()
            log = checkout / ".mutation" / "worker.log"
            log.parent.mkdir(exist_ok=True)
            with log.open("wb") as output:
                started.append(
                    subprocess.Popen(
                        [*python, str(WORKER), str(port)],
                        cwd=checkout,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # see kill_group
                    )
                )
            _wait_until_listening(port, started[-1])
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for worker in started:
            kill_group(worker)


def kill_group(process: subprocess.Popen[Any]) -> None:
    """Kill a process started with ``start_new_session`` and every process it started (the
    tests of the mutant in hand, which outlive their parent), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()

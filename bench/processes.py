"""Servers the bench starts: relays and the baseline, each a real process on a free loopback port.

A relay runs as ``python -m relay_server serve --data-dir D --host 127.0.0.1 --port P`` with
``RELAY_TOKEN`` set and every other ``RELAY_*`` variable of the caller's environment removed, so
it runs with the defaults a user gets (shared-token mode, access log at ``info``). Output goes
to a log file, never to a pipe that could fill up. :class:`ServerPool` stops every server it
started, however the bench ends. Linux only: CPU time and memory come from ``/proc``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.wire import LOOPBACK, HttpConnection, WireError

TOKEN: Final = "bench-token-0123456789abcdef"
REPO_ROOT: Final = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def identity(client_id: str) -> dict[str, str]:
    """The headers that make a request come from ``client_id``."""
    return {"Authorization": f"Bearer {TOKEN}", "X-Client-Id": client_id}


def _answers_health(port: int) -> bool:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class Server:
    """A server process the bench started."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id (the server must be running)."""
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self) -> Server:
        """Start the process and wait until ``/healthz`` answers.

        Raises:
            RuntimeError: it exited or did not answer in time (the message holds its log).
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        env.update(self.env, RELAY_TOKEN=TOKEN)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port)],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            if _answers_health(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer in {STARTUP_TIMEOUT_S:g}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime

    def memory_kib(self, key: str) -> int:
        """A ``/proc/<pid>/status`` memory figure in KiB: ``VmRSS`` now, ``VmHWM`` peak."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def reset_peak_memory(self) -> None:
        """Reset ``VmHWM`` to the current RSS (``/proc/<pid>/clear_refs``, value 5)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    async def call(
        self, method: str, path: str, client_id: str, body: Mapping[str, Any] | None = None
    ) -> Any:
        """One JSON API call as ``client_id`` (for setting up data, not for measuring).

        Raises:
            WireError: the answer was not a success.
        """
        connection = await HttpConnection.open(self.port)
        try:
            headers = identity(client_id)
            payload = None
            if body is not None:
                headers["Content-Type"] = "application/json"
                payload = json.dumps(body).encode()
            answer = await connection.request(method, path, headers, payload)
        finally:
            await connection.close()
        if answer.status >= 300:
            raise WireError(f"{method} {path}: HTTP {answer.status} {answer.body[:300]!r}")
        return answer.json() if answer.body else None


class ServerPool:
    """Starts relays and the baseline under one work directory and stops them all at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._running: list[Server] = []
        self._baseline: Server | None = None
        self._shared: Server | None = None

    def relay(
        self,
        name: str,
        data_dir: Path | None = None,
        module: str = "relay_server",
        env: Mapping[str, str] | None = None,
    ) -> Server:
        """Start a relay on a free port; its data lives in ``data_dir`` (default: a new one).

        ``module`` is what ``python -m`` runs (a what-if variant of the relay, for example);
        ``env`` adds ``RELAY_*`` settings (``RELAY_DATABASE_URL`` for PostgreSQL).
        """
        data_dir = data_dir or self.workdir / name
        data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", module, "serve", "--data-dir", str(data_dir)]
        command += ["--host", LOOPBACK]
        server = Server(name, command, self.workdir / f"{name}.log", env=dict(env or {}))
        return self._start(server)

    def shared_relay(self) -> Server:
        """A relay several figures share (each in its own sessions), started once."""
        if self._shared is None or self._shared.process is None:
            self._shared = self.relay("shared")
        return self._shared

    def relays(self, data_dirs: dict[str, Path]) -> list[Server]:
        """Start several relays at once (their start-up is mostly imports, so it overlaps)."""
        with ThreadPoolExecutor(len(data_dirs)) as starting:
            futures = [starting.submit(self.relay, n, d) for n, d in data_dirs.items()]
            return [future.result() for future in futures]

    def baseline(self) -> Server:
        """The baseline server (see :mod:`bench.baseline`), started once and shared."""
        if self._baseline is None or self._baseline.process is None:
            command = [sys.executable, "-m", "bench.baseline"]
            self._baseline = self._start(Server("baseline", command, self.workdir / "baseline.log"))
        return self._baseline

    def stop(self, server: Server) -> None:
        """Stop one server now."""
        server.stop()
        if server in self._running:
            self._running.remove(server)
        if server is self._baseline:
            self._baseline = None
        if server is self._shared:
            self._shared = None

    def log_tails(self, lines: int = 30) -> str:
        """The end of every running server's log (to explain a failed figure)."""
        return "\n".join(
            f"--- {server.name} ({server.log_path}):\n{server.log_tail(lines)}"
            for server in self._running
        )

    def stop_all(self) -> None:
        """Stop every server still running, newest first."""
        while self._running:
            self.stop(self._running[-1])

    def _start(self, server: Server) -> Server:
        self._running.append(server)
        return server.start()


def start_relay_process(
    data_dir: Path, port: int, log_path: Path, token: str = TOKEN
) -> subprocess.Popen[bytes]:
    """Start a shared-token relay on 127.0.0.1:``port``; wait (30 s at most) for /healthz.

    For benches that drive one relay by hand (soak, blob memory) rather than through
    :class:`Server`. Raises SystemExit with the relay's log when it does not come up.
    """
    command = [
        *(sys.executable, "-m", "relay_server", "serve"),
        *("--data-dir", str(data_dir), "--host", LOOPBACK, "--port", str(port)),
        *("--log-level", "warning"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env["RELAY_TOKEN"] = token
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"relay exited at start:\n{log_path.read_text()}")
        if _answers_health(port):
            return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("relay did not start within 30 s")

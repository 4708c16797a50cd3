"""Shared fixtures: real relays in their own processes, on free loopback ports.

``relay`` is one relay (shared-token mode) per test module; tests keep out of each other's way
by using their own session names (the ``session_name`` fixture). ``start_relay`` starts relays
with any configuration for one test, and every relay started is stopped when the test ends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

TOKEN = "test-token-0123456789abcdef"
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningRelay:
    """A relay process started by a test."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    @property
    def token(self) -> str | None:
        return self.env.get("RELAY_TOKEN")

    def headers(self, client_id: str, token: str | None = None) -> dict[str, str]:
        """The identity headers of ``client_id`` (with the relay's token unless given)."""
        headers = {"X-Client-Id": client_id}
        token = token or self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def start(self) -> RunningRelay:
        """Start (or restart) the process and wait until /healthz answers."""
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-relay.log"
        log = self.log_path.open("ab")
        command = [
            sys.executable,
            "-m",
            "relay_server",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        env = {**os.environ, **self.env}
        env.pop("RELAY_CONFIG", None)
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"relay exited at start:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"relay did not answer within {STARTUP_TIMEOUT_S}s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the process with SIGTERM (SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the process: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def access_line(self, pattern: str, within_s: float = 15.0) -> str | None:
        """The first access-log line matching ``pattern`` (a regex after ``relay_server.access``),
        polling the log until it shows up or ``within_s`` passes: the process writes it when the
        request ends, which for a stream is when the client goes away."""
        deadline = time.monotonic() + within_s
        while True:
            found = re.search(f"^.*relay_server.access {pattern}.*$", self.log(), re.MULTILINE)
            if found or time.monotonic() > deadline:
                return found.group(0) if found else None
            time.sleep(0.05)


StartRelay = Callable[..., RunningRelay]


@pytest.fixture(scope="module")
def _relays() -> Iterator[list[RunningRelay]]:
    started: list[RunningRelay] = []
    yield started
    for running in started:
        running.stop()


def _starter(tmp_path_factory: pytest.TempPathFactory, started: list[RunningRelay]) -> StartRelay:
    def start(**settings: object) -> RunningRelay:
        """Start a relay; ``settings`` become RELAY_* variables (token="..." by default)."""
        settings.setdefault("token", TOKEN)
        env = {
            f"RELAY_{key.upper()}": str(value)
            for key, value in settings.items()
            if value is not None
        }
        running = RunningRelay(data_dir=tmp_path_factory.mktemp("relay") / "data", env=env)
        started.append(running)
        return running.start()

    return start


@pytest.fixture
def start_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartRelay]:
    """Start relays with any settings; all are stopped at the end of the test."""
    started: list[RunningRelay] = []
    yield _starter(tmp_path_factory, started)
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory, _relays: list[RunningRelay]) -> RunningRelay:
    """One shared-token relay for the whole test module."""
    return _starter(tmp_path_factory, _relays)()


@pytest.fixture(scope="module")
def relay_of_all_revisions(
    tmp_path_factory: pytest.TempPathFactory, _relays: list[RunningRelay]
) -> RunningRelay:
    """A shared-token relay that also serves MCP 2026-07-28 (``mcp_revisions = "all"``)."""
    return _starter(tmp_path_factory, _relays)(mcp_revisions="all")


@pytest.fixture
def session_name(request: pytest.FixtureRequest) -> str:
    """A session name unique to this test."""
    base = request.node.name.lower().replace("[", "-").replace("]", "")
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in base)
    return cleaned.strip("-_")[:56] + f"-{os.getpid() % 1000}"


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like the relay."""
    return "asyncio"

"""Two hosts on a real (virtual) network: a relay speaking HTTPS in one network namespace, a
client joining it with a join code from another, over a veth pair; and the client finding the
relay by its mDNS announcement, multicast that stays on that link.

The namespaces, the link and the addresses (10.77.N.1 and 10.77.N.2) are made by the test and
deleted when it ends; no packet leaves the machine. Needs root and iproute2 (skipped without
them, failed under CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_server.cli import main as server_cli

PORT = 7878
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Lan:
    relay_ns: str
    client_ns: str
    relay_ip: str

    def run(self, ns: str, *command: str, env: dict[str, str] | None = None, timeout=60):
        return subprocess.run(
            ["ip", "netns", "exec", ns, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def lan(require_tool) -> Iterator[Lan]:
    require_tool(
        os.geteuid() == 0 and shutil.which("ip") is not None,
        "network namespaces need root and iproute2",
    )
    tag = os.getpid() % 200 + 20
    relay_ns, client_ns = f"ar-relay-{tag}", f"ar-client-{tag}"
    veth_a, veth_b = f"arv{tag}a", f"arv{tag}b"
    subnet = f"10.77.{tag}"
    made: list[str] = []
    try:
        for ns in (relay_ns, client_ns):
            _ip("netns", "add", ns)
            made.append(ns)
        _ip("link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        _ip("link", "set", veth_a, "netns", relay_ns)
        _ip("link", "set", veth_b, "netns", client_ns)
        _ip("-n", relay_ns, "addr", "add", f"{subnet}.1/24", "dev", veth_a)
        _ip("-n", client_ns, "addr", "add", f"{subnet}.2/24", "dev", veth_b)
        for ns, dev in ((relay_ns, veth_a), (client_ns, veth_b)):
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield Lan(relay_ns, client_ns, f"{subnet}.1")
    finally:
        for ns in made:  # deleting a namespace deletes its end of the veth pair, and so both
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@contextmanager
def tls_relay(lan, data: Path, log_path: Path, *options: str) -> Iterator[subprocess.Popen]:
    """A per-client relay with its own CA (``init --tls``) in ``data``, served in the relay's
    namespace with its output in ``log_path``; stopped on the way out."""
    init = CliRunner().invoke(
        server_cli,
        ["init", "--tls", "--per-client", "--host", lan.relay_ip, "--port", str(PORT),
         "--data-dir", str(data)],
    )  # fmt: skip
    assert init.exit_code == 0, init.output
    with log_path.open("w") as log:
        serve = subprocess.Popen(
            ["ip", "netns", "exec", lan.relay_ns, sys.executable, "-m", "relay_server", "serve",
             "--data-dir", str(data), *options],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield serve
        finally:
            serve.terminate()
            serve.wait(timeout=15)


def test_a_client_on_another_host_joins_an_https_relay_with_a_code(lan, tmp_path):
    data = tmp_path / "relay"
    with tls_relay(lan, data, tmp_path / "relay.log") as serve:
        probe = f"import socket; socket.create_connection(({lan.relay_ip!r}, {PORT}), 1)"
        deadline = time.monotonic() + 60
        while lan.run(lan.client_ns, sys.executable, "-c", probe).returncode != 0:
            assert serve.poll() is None, (tmp_path / "relay.log").read_text()
            assert time.monotonic() < deadline, "the relay did not listen within 60 s"
            time.sleep(0.2)
        printed = CliRunner().invoke(server_cli, ["join-code", "--data-dir", str(data)])
        code = printed.output.split("--join ", 1)[1].split()[0]
        assert code.startswith(f"{code[:14]}@{lan.relay_ip}:{PORT}/")
        client = {"CLAUDE_USER_DATA": str(tmp_path / "client"), "AGENT_RELAY_CLAUDE": "none"}
        joined = lan.run(
            lan.client_ns, str(BIN / "agent-relay"), "onboard", "--join", code,
            "--client-id", "laptop", env=client,
        )  # fmt: skip
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert "Token accepted: you are laptop" in joined.stdout
        status = lan.run(lan.client_ns, str(BIN / "agent-relay"), "status", "--json", env=client)
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["relay_url"] == f"https://{lan.relay_ip}:{PORT}"
        assert json.loads(status.stdout)["status"]["caller"] == "laptop"
    relay_log = (tmp_path / "relay.log").read_text()
    assert f"on https://{lan.relay_ip}:{PORT}" in relay_log
    assert code.split("@")[0] not in relay_log


def test_a_client_discovers_the_relay_on_the_lan_and_joins_it(lan, tmp_path):
    data = tmp_path / "relay"
    with tls_relay(lan, data, tmp_path / "relay.log", "--log-level", "info") as serve:
        deadline = time.monotonic() + 60
        while "announced as" not in (tmp_path / "relay.log").read_text():
            assert serve.poll() is None, (tmp_path / "relay.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "relay.log").read_text()
            time.sleep(0.2)
        printed = CliRunner().invoke(server_cli, ["join-code", "--data-dir", str(data)])
        code = printed.output.split("--join ", 1)[1].split()[0]
        secret, fingerprint = code.split("@")[0], code.rsplit("/", 1)[1]
        client = {"CLAUDE_USER_DATA": str(tmp_path / "client"), "AGENT_RELAY_CLAUDE": "none"}
        joined = lan.run(
            lan.client_ns, str(BIN / "agent-relay"), "onboard", "--discover", "--join", secret,
            "--ca-fingerprint", fingerprint, "--client-id", "laptop", env=client,
        )  # fmt: skip
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert f"https://{lan.relay_ip}:{PORT} (version" in joined.stderr
        assert "auth per-client" in joined.stderr
        assert "Token accepted: you are laptop" in joined.stdout

"""TLS on the LAN: ``init --tls`` makes a private CA, ``serve`` speaks HTTPS with it, and clients
pin that CA, from a join code's fingerprint or by confirming it.

Real relays served over real HTTPS on 127.0.0.1 (uvicorn in a thread, with the same options as
``serve``); the operator's commands and ``agent-relay`` through click's runner.
"""

import json
import logging
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import uvicorn
from click.testing import CliRunner
from cryptography import x509

from relay_client import ClientConfig, RelayClient
from relay_client.cli import cli as client_cli
from relay_core import Unavailable
from relay_server.cli import main as server_cli
from relay_server.config import load_config
from relay_server.tls import fingerprint
from tests.conftest import free_port


@dataclass
class TlsRelay:
    data_dir: Path
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def admin(self, *args: str, input: str | None = None) -> str:
        result = CliRunner().invoke(
            server_cli, [*args, "--data-dir", str(self.data_dir)], input=input
        )
        assert result.exit_code == 0, result.output
        return result.output

    def start(self) -> None:
        config = load_config(config_file=self.data_dir / "config.toml")

        def serve() -> None:
            from relay_server.app import build_relay
            from relay_server.serving import uvicorn_options

            relay = build_relay(config)  # here: the database is bound in this thread
            options = {**uvicorn_options(config), "log_config": None}
            self.server = uvicorn.Server(uvicorn.Config(relay.app, **options))
            self.server.run()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not (self.server is not None and self.server.started):
            assert self.thread.is_alive(), "the relay did not start"
            assert time.monotonic() < deadline, "the relay did not start in 30 s"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(15)


@pytest.fixture
def tls_relays(tmp_path) -> Iterator[callable]:
    started: list[TlsRelay] = []

    def start(name: str, *init_args: str) -> TlsRelay:
        relay = TlsRelay(tmp_path / name, free_port())
        relay.admin("init", "--tls", "--port", str(relay.port), *init_args)
        relay.start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


def onboard(tmp_path, name: str, *args: str, input: str | None = None):
    root = tmp_path / name
    env = {"CLAUDE_USER_DATA": str(root), "AGENT_RELAY_CLAUDE": str(tmp_path / "no-claude")}
    result = CliRunner().invoke(client_cli, ["onboard", *args], env=env, input=input)
    return result, root / "agent-relay"


def printed_join(output: str) -> str:
    return re.search(r"agent-relay onboard --join (\S+)$", output, re.M).group(1)


def test_init_tls_makes_a_ca_and_a_certificate_for_this_host(tmp_path):
    data = tmp_path / "relay"
    result = CliRunner().invoke(server_cli, ["init", "--tls", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    tls = data / "tls"
    ca_pem = (tls / "ca.pem").read_bytes()
    assert fingerprint(ca_pem) in result.output
    assert "tls = true" in (data / "config.toml").read_text()
    for key in ("ca-key.pem", "server-key.pem"):
        assert stat.S_IMODE((tls / key).stat().st_mode) == 0o600
    leaf = x509.load_pem_x509_certificates((tls / "server.pem").read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    ips = {str(a) for a in names.get_values_for_type(x509.IPAddress)}
    assert {socket.gethostname(), "localhost"} <= set(dns)
    assert {"127.0.0.1", "::1"} <= ips
    ca = x509.load_pem_x509_certificate(ca_pem)
    assert leaf.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_init_tls_on_an_existing_config_keeps_its_token(tmp_path):
    data = tmp_path / "relay"
    CliRunner().invoke(server_cli, ["init", "--data-dir", str(data)])
    before = (data / "config.toml").read_text()
    result = CliRunner().invoke(server_cli, ["init", "--tls", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    after = (data / "config.toml").read_text()
    token_line = next(line for line in before.splitlines() if line.startswith("token_sha256"))
    assert token_line in after
    assert after.count("tls = true") == 1


def test_a_join_code_pins_the_ca_and_the_client_speaks_https(tls_relays, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    relay = tls_relays("relay", "--per-client", "--host", "127.0.0.1")
    code = printed_join(relay.admin("join-code", "--client-id", "laptop"))
    assert code.endswith(fingerprint(relay.ca.read_bytes())[:26])
    result, root = onboard(tmp_path, "laptop", "--join", code)
    assert result.exit_code == 0, result.output
    assert "Token accepted: you are laptop" in result.output
    config = ClientConfig.load(root / "config.toml")
    assert config.relay_url == relay.url
    assert Path(config.ca_cert).read_bytes() == relay.ca.read_bytes()
    env = {"CLAUDE_USER_DATA": str(tmp_path / "laptop")}
    status = CliRunner().invoke(client_cli, ["status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["status"]["caller"] == "laptop"
    secret = code.split("@")[0]
    assert config.token not in caplog.text
    assert secret not in caplog.text


def test_a_client_pinned_to_another_ca_refuses_the_relay(tls_relays, tmp_path):
    ours = tls_relays("ours", "--per-client", "--host", "127.0.0.1")
    other = tls_relays("other", "--per-client", "--host", "127.0.0.1")
    config = ClientConfig(other.url, "laptop", "x" * 32, ca_cert=str(ours.ca))
    with RelayClient.from_config(config, retries=0) as client, pytest.raises(Unavailable):
        client.health()
    with pytest.raises(requests.exceptions.SSLError):  # nor does the system trust it
        requests.get(other.url + "/healthz", timeout=10)


def test_a_join_code_whose_fingerprint_does_not_match_sends_nothing(tls_relays, tmp_path):
    ours = tls_relays("ours", "--per-client", "--host", "127.0.0.1")
    other = tls_relays("other", "--per-client", "--host", "127.0.0.1")
    code = printed_join(other.admin("join-code"))
    forged = code.rsplit("/", 1)[0] + "/" + fingerprint(ours.ca.read_bytes())[:26]
    result, root = onboard(tmp_path, "laptop", "--join", forged)
    assert result.exit_code != 0
    assert "nothing was sent" in result.output
    assert not (root / "config.toml").exists()
    good, _ = onboard(tmp_path, "desk", "--join", code, "--client-id", "desk")
    assert good.exit_code == 0, good.output  # the code was never spent


def test_url_and_token_onboarding_asks_to_confirm_the_fingerprint(tls_relays, tmp_path):
    relay = tls_relays("relay", "--per-client", "--host", "127.0.0.1")
    token = re.search(r"^    (\S+)$", relay.admin("add-client", "laptop"), re.M).group(1)
    flags = ("--relay-url", relay.url, "--token", token, "--client-id", "laptop")
    unconfirmed, root = onboard(tmp_path, "one", *flags)
    assert unconfirmed.exit_code == 2
    assert "--ca-fingerprint" in unconfirmed.output
    expected = fingerprint(relay.ca.read_bytes())
    given, root = onboard(tmp_path, "two", *flags, "--ca-fingerprint", expected)
    assert given.exit_code == 0, given.output
    assert ClientConfig.load(root / "config.toml").ca_cert == str(root / "relay-ca.pem")
    answers = f"{relay.url}\nlaptop\n{token}\ny\n\n"
    asked, root = onboard(tmp_path, "three", input=answers)
    assert asked.exit_code == 0, asked.output
    grouped = " ".join(expected[i : i + 4] for i in range(0, len(expected), 4))
    assert grouped in asked.output
    assert "Token accepted: you are laptop" in asked.output


def test_tls_on_without_its_files_stops_serve_with_the_fix(tmp_path):
    data = tmp_path / "relay"
    CliRunner().invoke(server_cli, ["init", "--tls", "--data-dir", str(data)])
    (data / "tls" / "server-key.pem").unlink()
    result = CliRunner().invoke(
        server_cli, ["serve", "--data-dir", str(data), "--port", str(free_port())]
    )
    assert result.exit_code != 0
    assert "init --tls" in result.output
    assert os.path.exists(data / "tls" / "ca.pem")

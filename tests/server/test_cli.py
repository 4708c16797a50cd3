"""The agent-relay-server command: init, add-client, and refusing unsafe serving."""

import ipaddress
import socket
import stat
import tomllib

import pytest
from click.testing import CliRunner

from relay_server.cli import main
from relay_server.config import hash_token, load_config
from relay_server.local_addresses import local_addresses


def test_init_writes_a_private_config_holding_only_the_tokens_hash(tmp_path):
    result = CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = next(
        line.strip()
        for line in result.output.splitlines()
        if line.startswith("    ") and "onboard" not in line
    )
    path = tmp_path / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert token not in text
    assert tomllib.loads(text)["token_sha256"] == hash_token(token)
    assert (
        f"agent-relay onboard --relay-url http://127.0.0.1:7878 --token {token} --client-id NAME"
        in result.output
    )
    config = load_config(config_file=path, environ={})
    assert config.effective_auth_mode == "shared"


def test_init_refuses_to_replace_a_config_without_force(tmp_path):
    CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path)])
    again = CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path)])
    assert again.exit_code != 0
    assert "--force" in again.output


def test_init_for_the_lan_lists_allowed_host_names(tmp_path):
    result = CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 0
    config = load_config(config_file=tmp_path / "config.toml", environ={})
    assert config.host == "0.0.0.0"
    hostname = socket.gethostname()
    assert config.allowed_hosts[:2] == sorted({hostname, f"{hostname}.local"})
    # The machine's own addresses, so clients may use an IP; never loopback or link-local.
    assert config.allowed_hosts[2:] == local_addresses()
    for address in local_addresses():
        ip = ipaddress.ip_address(address)
        assert not ip.is_loopback
        assert not ip.is_link_local
    assert f"--relay-url http://{hostname}:7878 " in result.output


def test_local_addresses_include_the_one_the_default_route_uses():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # routing only: a UDP connect sends nothing
        except OSError:
            pytest.skip("no IPv4 route on this machine")
        routed = probe.getsockname()[0]
    if not ipaddress.ip_address(routed).is_loopback:
        assert routed in local_addresses()


def test_add_client_prints_the_onboard_line_with_its_client_id(tmp_path):
    CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path), "--per-client"])
    result = CliRunner().invoke(main, ["add-client", "desk", "--data-dir", str(tmp_path)])
    token = next(line.strip() for line in result.output.splitlines() if line.startswith("    "))
    assert (
        f"agent-relay onboard --relay-url http://127.0.0.1:7878 --token {token} --client-id desk"
        in result.output
    )
    again = CliRunner().invoke(main, ["add-client", "desk", "--data-dir", str(tmp_path)])
    assert "desk already had a token: it is replaced" in again.output
    assert "old one stops working now" in again.output


def test_per_client_init_and_add_client(tmp_path):
    CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path), "--per-client"])
    result = CliRunner().invoke(main, ["add-client", "desktop", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Token for desktop" in result.output
    assert "Note:" not in result.output


def test_add_client_refuses_a_bad_name_with_one_line(tmp_path):
    result = CliRunner().invoke(main, ["add-client", "Not/Valid", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: invalid: client id")
    assert "Traceback" not in result.output


def test_serve_refuses_an_open_relay_on_the_network(tmp_path):
    result = CliRunner().invoke(
        main, ["serve", "--data-dir", str(tmp_path), "--host", "0.0.0.0"], env={"RELAY_TOKEN": None}
    )
    assert result.exit_code == 2
    assert "--insecure-open" in result.output


def test_serve_with_a_bad_relay_token_does_not_print_it(tmp_path):
    result = CliRunner().invoke(
        main, ["serve", "--data-dir", str(tmp_path)], env={"RELAY_TOKEN": "short-secret"}
    )
    assert result.exit_code == 2
    assert "RELAY_TOKEN" in result.output
    assert "short-secret" not in result.output


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            ["serve", "--data-dir", str(tmp_path), "--port", str(port)],
            env={"RELAY_TOKEN": None},
        )
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert "--port" in result.output
    assert "Errno" not in result.output
    assert "Traceback" not in result.output


def test_add_client_says_when_a_running_relay_could_not_be_told(tmp_path):
    CliRunner().invoke(main, ["init", "--data-dir", str(tmp_path), "--per-client"])
    (tmp_path / "relay.sqlite3-tokens").mkdir()  # the marker cannot be appended to
    result = CliRunner().invoke(main, ["add-client", "desk", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: unavailable: the token change is stored")
    assert "restart the relay" in result.output
    assert "Traceback" not in result.output

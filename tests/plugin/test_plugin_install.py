"""Installed for real from its own marketplace, the plugin connects Claude Code to a relay.

Claude Code runs with HOME in a temp dir and talks only to the relay the test starts on a free
loopback port (and to the npm registry, to fetch the pinned Claude Code once).
"""

import json
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.node

SERVER = "plugin:agent-relay:agent-relay"


@pytest.fixture
def install(claude, plugin_copy, tmp_path):
    """Add the copy as a marketplace and install the plugin with the given options."""
    workdir = tmp_path / "somewhere"  # not the repo: its .mcp.json would add a project server
    workdir.mkdir()

    def install_with(relay_url: str, client_id: str, token: str) -> Path:
        added = claude("plugin", "marketplace", "add", str(plugin_copy), cwd=workdir)
        assert added.returncode == 0, added.stdout + added.stderr
        installed = claude(
            "plugin",
            "install",
            "agent-relay@agent-relay",
            "--config",
            f"relay_url={relay_url}",
            "--config",
            f"client_id={client_id}",
            "--config",
            f"relay_token={token}",
            cwd=workdir,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        return workdir

    return install_with


def server_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(f"{SERVER}:")]
    return line


def test_the_installed_plugin_connects_claude_code_to_the_relay(claude, install, relay):
    workdir = install(relay.url, "alice", relay.token)
    listed = claude("mcp", "list", cwd=workdir)
    line = server_line(listed.stdout)
    assert line.startswith(f"{SERVER}: {relay.mcp_url} (HTTP)")
    assert "✔ Connected" in line


def test_the_plugin_sends_the_configured_token_so_a_wrong_one_fails(
    claude, install, relay, tmp_path
):
    workdir = install(relay.url, "alice", "not-the-relay-token-0123456789")
    debug = tmp_path / "claude-debug.log"
    line = server_line(claude("--debug-file", str(debug), "mcp", "list", cwd=workdir).stdout)
    assert "✘ Failed" in line
    # Failed because the relay refused the token it was sent, not for any other reason (the
    # relay logs no line for a refused MCP request, so Claude Code's debug log is the witness).
    said = debug.read_text()
    assert "(HTTP 401)" in said, said[-3000:]
    assert '"code": "unauthorized"' in said, said[-3000:]


def test_the_token_is_kept_out_of_the_settings_file(claude, install, relay):
    install(relay.url, "alice", relay.token)
    settings = (claude.home / ".claude" / "settings.json").read_text()
    options = json.loads(settings)["pluginConfigs"]["agent-relay@agent-relay"]["options"]
    assert options == {"relay_url": relay.url, "client_id": "alice"}
    assert relay.token not in settings


def test_the_plugin_identifies_as_its_configured_client_id(claude, install, relay):
    workdir = install(relay.url, "plugin-probe", relay.token)
    claude("mcp", "list", cwd=workdir)
    # The peer list shows the callers other than the one asking.
    peers = requests.get(f"{relay.url}/api/v1/peers", headers=relay.headers("observer"), timeout=5)
    assert peers.ok, peers.text
    assert "plugin-probe" in peers.text

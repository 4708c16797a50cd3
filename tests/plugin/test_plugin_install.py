"""Installed for real from its own marketplace, the plugin connects Claude Code to a relay.

Claude Code runs with HOME in a temp dir and talks only to the relay the test starts on a free
loopback port (and to the npm registry, to fetch the pinned Claude Code once).
"""

import json

import pytest
import requests

pytestmark = pytest.mark.node

SERVER = "plugin:agent-relay:agent-relay"


def server_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(f"{SERVER}:")]
    return line


def test_the_installed_plugin_connects_claude_code_to_the_relay(claude, install, relay):
    workdir = install(relay.url, "alice", relay.token)
    listed = claude("mcp", "list", cwd=workdir)
    line = server_line(listed.stdout)
    assert line.startswith(f"{SERVER}: {relay.mcp_url} (HTTP)")
    assert "✔ Connected" in line


def test_the_plugin_sends_the_configured_token_so_a_wrong_one_fails(claude, install, relay):
    workdir = install(relay.url, "alice", "not-the-relay-token-0123456789")
    line = server_line(claude("mcp", "list", cwd=workdir).stdout)
    assert "✘ Failed" in line


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

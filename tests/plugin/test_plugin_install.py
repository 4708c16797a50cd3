"""Installed for real from its own marketplace, the plugin connects Claude Code to a relay.

Claude Code runs with HOME in a temp dir and talks only to the relay the test starts on a free
loopback port (and to the npm registry, to fetch the pinned Claude Code once).
"""

import json

import pytest
import requests
import skilldocs
from click.testing import CliRunner

pytestmark = pytest.mark.node

SERVER = "plugin:agent-relay:agent-relay"


def server_line(output: str, server: str = SERVER) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(f"{server}:")]
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


def test_the_command_line_recognises_the_plugins_registration(
    claude, install, relay, tmp_path, monkeypatch
):
    from relay_client import claude as claude_code

    workdir = install(relay.url, "alice", relay.token)
    wrapper = tmp_path / "claude"
    exports = " ".join(f"{name}='{claude.env[name]}'" for name in ("HOME", "npm_config_cache"))
    wrapper.write_text(
        "#!/bin/sh\n"
        f"export {exports} DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 "
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1\n"
        f'exec npx -y @anthropic-ai/claude-code@{skilldocs.CLAUDE_CODE_VERSION} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("AGENT_RELAY_CLAUDE", str(wrapper))
    monkeypatch.chdir(workdir)
    found = claude_code.registration()
    assert found.connected is None
    assert found.plugin == claude_code.Entry(claude_code.PLUGIN_SERVER_NAME, relay.mcp_url, "alice")


def test_a_project_registration_keeps_the_token_out_of_mcp_json_and_still_connects(
    claude, relay, tmp_path, monkeypatch
):
    from relay_client.cli import cli

    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "settings.local.json").write_text(
        json.dumps({"enabledMcpjsonServers": ["agent-relay"]})
    )
    wrapper = tmp_path / "claude"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"export HOME='{claude.env['HOME']}' npm_config_cache='{claude.env['npm_config_cache']}' "
        "DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1\n"
        f'exec npx -y @anthropic-ai/claude-code@{skilldocs.CLAUDE_CODE_VERSION} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("AGENT_RELAY_CLAUDE", str(wrapper))
    monkeypatch.setenv("CLAUDE_USER_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(project)
    runner = CliRunner()
    onboarded = runner.invoke(
        cli,
        ["onboard", "--relay-url", relay.url, "--client-id", "alice", "--token", relay.token],
    )
    assert onboarded.exit_code == 0, onboarded.output
    connected = runner.invoke(cli, ["connect", "--scope", "project"])
    assert connected.exit_code == 0, connected.output
    # Trust the folder and approve its server, as a person would at Claude Code's first start.
    state_file = claude.home / ".claude.json"
    state = json.loads(state_file.read_text())
    state.setdefault("projects", {})[str(project)] = {"hasTrustDialogAccepted": True}
    state_file.write_text(json.dumps(state))
    config = (project / ".mcp.json").read_text()
    assert relay.token not in config
    assert "${AGENT_RELAY_TOKEN}" in config
    without = claude("mcp", "list", cwd=project)
    assert "✔ Connected" not in server_line(without.stdout, "agent-relay")
    claude.env["AGENT_RELAY_TOKEN"] = relay.token
    listed = claude("mcp", "list", cwd=project)
    assert "✔ Connected" in server_line(listed.stdout, "agent-relay"), listed.stdout

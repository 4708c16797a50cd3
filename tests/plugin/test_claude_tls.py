"""The real, pinned Claude Code reaches an HTTPS relay with its own CA once ``connect`` set
``NODE_EXTRA_CA_CERTS`` in its user settings, and not before.

The relay is served over HTTPS on 127.0.0.1 (``init --tls``); this machine joins it with a join
code (pinning the CA), then ``agent-relay connect`` registers it with Claude Code through a
``claude`` wrapper that runs the pinned release with HOME in a temp dir.
"""

import re
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_client.cli import cli as client_cli
from tests.conftest import free_port
from tests.server.test_tls import TlsRelay, printed_join

pytestmark = pytest.mark.node


def status_line(listed: str) -> str:
    [line] = [line for line in listed.splitlines() if line.startswith("agent-relay:")]
    return line


def claude_wrapper(claude, tmp_path: Path) -> Path:
    """An executable that runs the pinned Claude Code with the fixture's environment."""
    wrapper = tmp_path / "claude"
    command = " ".join(
        ["exec", "npx", "-y", f"@anthropic-ai/claude-code@{claude_version()}", '"$@"']
    )
    exports = "".join(
        f"export {name}={value!r}\n"
        for name, value in claude.env.items()
        if name in {"HOME", "npm_config_cache", "PATH"} or name.startswith(("DISABLE_", "CLAUDE_"))
    )
    wrapper.write_text(f"#!/bin/sh\n{exports}{command}\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def claude_version() -> str:
    return sys.modules["skilldocs"].CLAUDE_CODE_VERSION


def test_claude_code_connects_over_https_once_it_trusts_the_relays_ca(claude, tmp_path):
    relay = TlsRelay(tmp_path / "relay", free_port())
    relay.admin("init", "--tls", "--per-client", "--host", "127.0.0.1", "--port", str(relay.port))
    relay.start()
    try:
        env = {
            "CLAUDE_USER_DATA": str(tmp_path / "client"),
            "AGENT_RELAY_CLAUDE": str(claude_wrapper(claude, tmp_path)),
            "CLAUDE_CONFIG_DIR": None,  # unset: an empty one makes Claude Code write to the cwd
        }
        joined = CliRunner().invoke(
            client_cli,
            ["onboard", "--join", printed_join(relay.admin("join-code", "--client-id", "desk"))],
            env=env,
        )
        assert joined.exit_code == 0, joined.output
        registered = CliRunner().invoke(client_cli, ["connect", "--print"], env=env)
        assert "NODE_EXTRA_CA_CERTS" in registered.output
        workdir = tmp_path / "somewhere"
        workdir.mkdir()
        url = f"{relay.url}/mcp"
        token = re.search(
            r'^token = "(.*)"$',
            (tmp_path / "client" / "agent-relay" / "config.toml").read_text(),
            re.M,
        ).group(1)
        added = claude(
            "mcp", "add", "--transport", "http", "agent-relay", url,
            "--header", f"Authorization: Bearer {token}", "--scope", "user", cwd=workdir,
        )  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        untrusted = claude("mcp", "list", cwd=workdir)
        assert "✘ Failed" in status_line(untrusted.stdout), untrusted.stdout
        connected = CliRunner().invoke(
            client_cli, ["connect"], env={**env, "HOME": str(claude.home)}
        )
        assert connected.exit_code == 0, connected.output
        assert "trusts the relay's CA" in connected.output
        trusted = claude("mcp", "list", cwd=workdir)
        assert "✔ Connected" in status_line(trusted.stdout), trusted.stdout + trusted.stderr
    finally:
        relay.stop()

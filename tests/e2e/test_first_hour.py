"""A new user's first hour against the real relay: mistakes that must get a clear answer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

pytest.importorskip("relay_server.app", reason="the relay server is not installed")

from relay_client import RelayClient
from relay_client.api import MisdirectedHost
from relay_client.cli import cli
from relay_client.cli.app import EXIT_CODES


def test_a_host_name_outside_allowed_hosts_is_explained_not_internal(relay):
    # The relay listens on 127.0.0.1; a client that calls it relay.lan (a name it was not told
    # about) gets its DNS-rebinding guard's 421.
    session = requests.Session()
    session.headers["Host"] = f"relay.lan:{relay.port}"
    with (
        RelayClient(relay.url, "alice", relay.token, session=session) as client,
        pytest.raises(MisdirectedHost) as caught,
    ):
        client.health()
    assert caught.value.code == "forbidden"
    assert "allowed_hosts" in caught.value.message
    assert "unexpected answer" not in caught.value.message


@pytest.fixture
def agent(relay, tmp_path, monkeypatch):
    """The ``agent-relay`` command of a machine onboarded to the shared relay as alice."""
    monkeypatch.setenv("CLAUDE_USER_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AGENT_RELAY_CLAUDE", str(tmp_path / "no-claude"))

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    onboarded = run(
        "onboard", "--relay-url", relay.url, "--client-id", "alice", "--token", relay.token
    )
    assert onboarded.exit_code == 0, onboarded.output
    return run


def test_a_participant_that_never_connected_is_named_in_a_warning(agent, relay, session_name):
    seen = requests.get(f"{relay.url}/api/v1/whoami", headers=relay.headers("bob"), timeout=5)
    assert seen.ok, seen.text
    created = agent("session", "create", session_name, "--with", "bob", "--with", "bobb")
    assert created.exit_code == 0, created.output
    assert "Warning: bobb has never connected to the relay" in created.stderr
    assert "bob," not in created.stderr
    invited = agent("session", "invite", session_name, "carol-typo")
    assert "Warning: carol-typo has never connected" in invited.stderr
    quiet = agent("session", "invite", session_name, "bob")
    assert quiet.exit_code == 0, quiet.output
    assert "Warning" not in quiet.stderr


def skill_bullets(skill: str) -> dict[str, str]:
    """The ``- `code` (N): what it means`` lines of a skill, by code."""
    text = (Path(__file__).resolve().parents[2] / "skills" / skill / "SKILL.md").read_text()
    folded = " ".join(text.split())
    return dict(re.findall(r"- `([a-z_]+)` \(\d+\): (.*?)(?= - `|$)", folded))


def test_sending_to_a_session_you_are_not_in_is_what_the_send_message_skill_says(
    agent, relay, session_name
):
    made = requests.post(
        f"{relay.url}/api/v1/sessions",
        json={"name": session_name, "participants": []},
        headers=relay.headers("bob"),
        timeout=5,
    )
    assert made.ok, made.text
    result = agent("send", session_name, "hello?")
    assert result.exit_code == EXIT_CODES["forbidden"]
    assert result.stderr.startswith("Error: forbidden: ")
    bullets = skill_bullets("send-message")
    assert "not a participant" in bullets["forbidden"]
    assert "not in it" not in bullets["not_found"]
    assert "participant" not in bullets["not_found"]


def test_onboarding_with_another_machines_per_client_token_is_what_the_onboard_skill_says(
    start_relay, tmp_path, monkeypatch
):
    relay = start_relay(token=None, auth_mode="per-client")
    added = subprocess.run(
        [sys.executable, "-m", "relay_server", "add-client", "alpha", "--data-dir",
         str(relay.data_dir)],
        capture_output=True, text=True, check=True, env={**os.environ, **relay.env},
    )  # fmt: skip
    token = next(line.strip() for line in added.stdout.splitlines() if line.startswith("    "))
    monkeypatch.setenv("CLAUDE_USER_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AGENT_RELAY_CLAUDE", str(tmp_path / "no-claude"))
    result = CliRunner().invoke(
        cli, ["onboard", "--relay-url", relay.url, "--client-id", "alpah", "--token", token]
    )
    assert result.exit_code == EXIT_CODES["forbidden"]
    skill = " ".join(
        (Path(__file__).resolve().parents[2] / "skills" / "onboard" / "SKILL.md")
        .read_text()
        .split()
    )
    quoted = re.search(r"`Error: forbidden: X-Client-Id [^`]*` \(exit (\d+)\)", skill)
    assert quoted is not None
    assert int(quoted.group(1)) == result.exit_code
    assert "does not match the client this token belongs to ('alpha')" in result.stderr

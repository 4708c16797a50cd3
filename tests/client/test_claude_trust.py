"""``agent-relay connect`` makes Claude Code trust an HTTPS relay's own CA, through
``NODE_EXTRA_CA_CERTS`` in Claude Code's user settings (here a settings dir of the test's own)."""

import json

import pytest

from relay_client import ClientConfig
from relay_client.claude_trust import trust_ca
from relay_core import Conflict, InvalidInput

RELAY = "https://127.0.0.1:7878"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    return tmp_path / "claude-config" / "settings.json"


def test_connect_sets_node_extra_ca_certs_and_keeps_other_settings(
    data_paths, settings, fake_claude, run, tmp_path
):
    ca = tmp_path / "relay-ca.pem"
    ClientConfig(RELAY, "alice-laptop", "tok-123456", ca_cert=str(ca)).save(data_paths.config)
    settings.parent.mkdir()
    settings.write_text(json.dumps({"theme": "dark", "env": {"FOO": "1"}}))
    result = run("connect")
    assert result.exit_code == 0, result.output
    assert json.loads(settings.read_text()) == {
        "theme": "dark",
        "env": {"FOO": "1", "NODE_EXTRA_CA_CERTS": str(ca)},
    }
    assert "trusts the relay's CA" in result.output
    assert fake_claude.registered["args"][5] == f"{RELAY}/mcp"


def test_connect_without_a_pinned_ca_leaves_the_settings_alone(
    configured, settings, fake_claude, run
):
    assert run("connect").exit_code == 0
    assert not settings.exists()


def test_another_ca_file_already_set_is_kept_and_explained(settings, tmp_path):
    settings.parent.mkdir()
    settings.write_text(json.dumps({"env": {"NODE_EXTRA_CA_CERTS": "/etc/corp.pem"}}))
    with pytest.raises(Conflict, match="append the relay's CA"):
        trust_ca(str(tmp_path / "relay-ca.pem"))
    assert json.loads(settings.read_text()) == {"env": {"NODE_EXTRA_CA_CERTS": "/etc/corp.pem"}}


def test_setting_it_twice_changes_nothing_the_second_time(settings, tmp_path):
    assert trust_ca(str(tmp_path / "ca.pem")) is True
    assert trust_ca(str(tmp_path / "ca.pem")) is False


def test_a_broken_settings_file_is_not_touched(settings, tmp_path):
    settings.parent.mkdir()
    settings.write_text("{not json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        trust_ca(str(tmp_path / "ca.pem"))
    assert settings.read_text() == "{not json"

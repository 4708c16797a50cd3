from pathlib import Path

from relay_client import DataPaths, data_root


def test_claude_user_data_wins_over_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_USER_DATA", str(tmp_path / "claude"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "claude" / "agent-relay"


def test_xdg_data_home_is_used_without_claude_user_data(monkeypatch, tmp_path):
    monkeypatch.delenv("CLAUDE_USER_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "claude-plugins" / "agent-relay"


def test_without_either_variable_the_root_is_under_local_share(monkeypatch, tmp_path):
    monkeypatch.delenv("CLAUDE_USER_DATA", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "claude-plugins" / "agent-relay"
    assert data_root() == expected


def test_an_empty_claude_user_data_counts_as_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_USER_DATA", "  ")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert data_root() == tmp_path / "claude-plugins" / "agent-relay"


def test_the_files_live_below_the_root():
    paths = DataPaths(Path("/data/agent-relay"))
    assert paths.config == Path("/data/agent-relay/config.toml")
    assert paths.peers == Path("/data/agent-relay/peers.toml")
    assert paths.cursors == Path("/data/agent-relay/cursors")


def test_nothing_is_created_just_by_asking_where(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUDE_USER_DATA", str(tmp_path / "claude"))
    DataPaths.default()
    assert not (tmp_path / "claude").exists()


def test_claude_plugin_data_does_not_move_the_data_root(monkeypatch, tmp_path):
    # The agent (inside Claude Code, where the plugin's folder may be set) and a person at a
    # terminal (where it never is) must find the same config, roster and cursors.
    monkeypatch.delenv("CLAUDE_USER_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    person = data_root()
    monkeypatch.setenv("CLAUDE_PLUGIN_DATA", str(tmp_path / "plugins" / "data" / "agent-relay"))
    assert data_root() == person == tmp_path / "xdg" / "claude-plugins" / "agent-relay"


def test_no_skill_points_the_command_line_at_another_data_root():
    skills = Path(__file__).resolve().parents[2] / "skills"
    for skill in skills.glob("*/SKILL.md"):
        text = skill.read_text(encoding="utf-8")
        assert "CLAUDE_PLUGIN_DATA" not in text, skill
        assert "CLAUDE_USER_DATA=" not in text, skill

"""Claude Code's own validator accepts the plugin and its marketplace, strictly."""

import json
import shutil

import pytest
import skilldocs

pytestmark = pytest.mark.node

MANIFESTS = (".claude-plugin", ".mcp.json", "skills", "README.md", "LICENSE")


def test_claude_code_validates_the_repo_as_plugin_and_marketplace_in_strict_mode(claude):
    result = claude("plugin", "validate", "--strict", "--json", str(skilldocs.ROOT))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["success"] is True
    assert report["manifest"]["type"] == "marketplace"
    assert report["manifest"]["errors"] == []
    assert report["manifest"]["warnings"] == []
    assert [server["name"] for server in report["provides"]["mcpServers"]] == ["agent-relay"]


def test_the_strict_validator_fails_a_broken_plugin_manifest(claude, tmp_path):
    copy = tmp_path / "plugin"
    for name in MANIFESTS:
        source = skilldocs.ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        else:
            shutil.copy(source, copy / name)
    manifest = copy / ".claude-plugin" / "plugin.json"
    broken = json.loads(manifest.read_text())
    broken["author"] = "a string, not an object"
    manifest.write_text(json.dumps(broken))
    result = claude("plugin", "validate", "--strict", str(copy))
    assert result.returncode == 1
    assert "author" in result.stdout

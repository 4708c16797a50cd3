"""Claude Code's own validator accepts the plugin and its marketplace, strictly."""

import json
import shutil
import struct
from pathlib import Path

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


def copy_of_the_plugin(copy: Path) -> Path:
    """The plugin's manifests and skills, copied to ``copy`` for a test to break."""
    for name in MANIFESTS:
        source = skilldocs.ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        else:
            shutil.copy(source, copy / name)
    return copy


def test_the_strict_validator_fails_a_broken_plugin_manifest(claude, tmp_path):
    copy = copy_of_the_plugin(tmp_path / "plugin")
    manifest = copy / ".claude-plugin" / "plugin.json"
    broken = json.loads(manifest.read_text())
    broken["author"] = "a string, not an object"
    manifest.write_text(json.dumps(broken))
    result = claude("plugin", "validate", "--strict", str(copy))
    assert result.returncode == 1
    assert "author" in result.stdout


def test_the_plugin_is_ready_for_the_directory_profile_strictly(claude):
    result = claude(
        "plugin", "validate", "--profile", "directory", "--strict", "--json", str(skilldocs.ROOT)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["success"] is True
    assert report["directory"]["findings"] == []
    assert report["directory"]["failure"] is None


def test_the_directory_profile_fails_without_the_icon(claude, tmp_path):
    copy = copy_of_the_plugin(tmp_path / "plugin")
    (copy / ".claude-plugin" / "icon.png").unlink()
    result = claude("plugin", "validate", "--profile", "directory", "--strict", "--json", str(copy))
    assert result.returncode == 1
    codes = [f["code"] for f in json.loads(result.stdout)["directory"]["findings"]]
    assert codes == ["ICON_MISSING"]


def test_the_icon_is_a_square_png_the_directory_takes():
    data = (skilldocs.ROOT / ".claude-plugin" / "icon.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width == height
    assert 512 <= width <= 2048
    assert len(data) < 2 * 1024 * 1024


def test_the_privacy_link_is_https_and_points_at_the_privacy_section():
    manifest = json.loads((skilldocs.ROOT / ".claude-plugin" / "plugin.json").read_text())
    url = manifest["privacyPolicyUrl"]
    assert url.startswith("https://")
    assert url.endswith("/docs/plugin.md#privacy")
    assert "\n## Privacy\n" in skilldocs.USER_DOCS.read_text()

"""The install commands the skills and docs give work as written, from a copy of the plugin.

They run offline (from uv's cache, filled by `uv sync`) and into temp dirs: what is tested is the
command and the files it needs, not PyPI.
"""

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
import skilldocs


@pytest.fixture
def tool_env(tmp_path) -> dict[str, str]:
    """uv installing tools into temp dirs, from its cache only."""
    return {
        **os.environ,
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
        "UV_OFFLINE": "1",
        "UV_NO_PROGRESS": "1",
    }


def line_starting(text: str, prefix: str) -> str:
    """The one code-block line of ``text`` that starts with ``prefix``."""
    blocks = skilldocs.shell_blocks(text)
    [line] = [line for block in blocks for line in block.splitlines() if line.startswith(prefix)]
    return line


def run(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def skill_text(name: str) -> str:
    return (skilldocs.SKILLS_DIR / name / "SKILL.md").read_text()


@pytest.mark.parametrize(
    "text",
    [skill_text("onboard"), (skilldocs.ROOT / "docs" / "plugin.md").read_text()],
    ids=["onboard skill", "docs/plugin.md"],
)
def test_the_documented_one_liner_installs_the_agent_relay_command(
    text, plugin_copy, tool_env, tmp_path
):
    line = line_starting(text, "uv tool install")
    env = {**tool_env, "CLAUDE_PLUGIN_ROOT": str(plugin_copy), "PLUGIN_DIR": str(plugin_copy)}
    # The docs give it for a shell in the clone; the skill, with the plugin's absolute path.
    result = run(line, env, cwd=plugin_copy)
    assert result.returncode == 0, result.stderr
    assert "Installed 1 executable: agent-relay" in result.stderr
    command = tmp_path / "bin" / "agent-relay"
    assert command.exists()
    if has_module("relay_client.cli"):
        assert subprocess.run([command, "--help"], capture_output=True, check=False).returncode == 0


def test_the_one_liner_installs_only_the_client_not_the_server(plugin_copy, tool_env, tmp_path):
    line = line_starting(skill_text("onboard"), "uv tool install")
    run(line, {**tool_env, "CLAUDE_PLUGIN_ROOT": str(plugin_copy)}, cwd=tmp_path)
    installed = {path.name for path in (tmp_path / "bin").iterdir()}
    assert installed == {"agent-relay"}
    packages = {p.name for p in (tmp_path / "tools").glob("*/lib/python*/site-packages/*")}
    assert "relay_client" in packages
    assert "relay_server" not in packages
    assert "fastmcp" not in packages


def test_the_relay_host_gets_only_the_server_from_the_copied_subset(
    plugin_copy, tool_env, tmp_path
):
    text = skill_text("setup-relay-server")
    # The skill pipes the subset to the host over ssh; here it lands in a local folder instead.
    pack = line_starting(text, "tar -C").split("|")[0]
    host = tmp_path / "host"
    (host / "src").mkdir(parents=True)
    archive = tmp_path / "subset.tar.gz"
    packed = run(
        f"{pack} > '{archive}'", {**tool_env, "CLAUDE_PLUGIN_ROOT": str(plugin_copy)}, tmp_path
    )
    assert packed.returncode == 0, packed.stderr
    subprocess.run(["tar", "-xzf", archive, "-C", host / "src"], check=True)
    assert not (host / "src" / "packages" / "relay-client").exists()

    install = line_starting(text, "sudo env UV_TOOL_DIR").removeprefix("sudo ")
    install = install.replace("/opt/agent-relay", str(host)).replace(
        "/usr/local/bin", str(host / "bin")
    )
    # uv's own cache stays as it is, and so does the Python it finds: only paths move.
    install = install.replace(f"UV_PYTHON_INSTALL_DIR={host}/python ", "")
    install = install.replace("UV_PYTHON_PREFERENCE=only-managed ", "")
    result = run(install, {**tool_env}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert {path.name for path in (host / "bin").iterdir()} == {"agent-relay-server"}
    if has_module("relay_server.cli"):
        unit = subprocess.run(
            [host / "bin" / "agent-relay-server", "systemd-unit"], capture_output=True, text=True
        )
        # Installed with the test machine's Python: the unit is refused when that Python lives
        # in a home directory (pyenv under /root), which the service user could not run.
        interpreter = Path(os.path.realpath(host / "tools" / "relay-server" / "bin" / "python"))
        if interpreter.parts[1:2] in (("home",), ("root",)):
            assert unit.returncode == 2
            assert "UV_PYTHON_PREFERENCE=only-managed" in unit.stderr
        else:
            assert unit.returncode == 0, unit.stderr
            assert "ProtectSystem=strict" in unit.stdout

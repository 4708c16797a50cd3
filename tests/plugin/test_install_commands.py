"""The install commands the skills and docs give work as written, from a copy of the plugin.

They run offline (from uv's cache) and into temp dirs: what is tested is the command and the
files it needs, not PyPI. `uv sync` installs from the lock file's URLs and never fetches the
index pages a `uv tool install` resolves with, so on a machine that never installed these
packages as tools the cache lacks them: ``uv_index_pages`` fills it once per run, online.
"""

import os
import subprocess
from pathlib import Path

import pytest
import skilldocs


@pytest.fixture(scope="session")
def uv_index_pages(tmp_path_factory) -> None:
    """uv's cache holds the index pages the offline installs below resolve with.

    The one step of these tests that reaches PyPI (as `uv sync` does on a fresh machine): it
    installs both packages from the repository once, into a throwaway tool dir.
    """
    scratch = tmp_path_factory.mktemp("uv-index-pages")
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(scratch / "tools"),
        "UV_TOOL_BIN_DIR": str(scratch / "bin"),
        "UV_NO_PROGRESS": "1",
    }
    env.pop("UV_OFFLINE", None)
    for package in ("relay-client", "relay-server"):
        source = skilldocs.ROOT / "packages" / package
        result = subprocess.run(
            ["uv", "tool", "install", "--force", str(source)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"uv could not fill its cache:\n{result.stderr}"


@pytest.fixture
def tool_env(tmp_path, uv_index_pages) -> dict[str, str]:
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

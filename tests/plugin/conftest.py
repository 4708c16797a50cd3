"""Shared pieces of the plugin tests: the skill reader and a pinned, isolated Claude Code.

The suite runs with ``--import-mode=importlib``, which puts no test folder on ``sys.path``; this
conftest is imported before the test modules next to it, so it registers ``skilldocs`` (the
skill reader beside it) under its name for them to import.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "skilldocs", Path(__file__).with_name("skilldocs.py")
)
assert _spec is not None
assert _spec.loader is not None
skilldocs = importlib.util.module_from_spec(_spec)
sys.modules["skilldocs"] = skilldocs
_spec.loader.exec_module(skilldocs)

CLAUDE_CODE_VERSION = skilldocs.CLAUDE_CODE_VERSION


@pytest.fixture(scope="session")
def npm_cache(require_tool) -> str:
    """The machine's npm cache, so a temp HOME does not download Claude Code again."""
    npm = shutil.which("npm")
    npx = shutil.which("npx")
    require_tool(npm is not None and npx is not None, "node and npm are not installed")
    assert npm is not None
    result = subprocess.run(
        [npm, "config", "get", "cache"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@dataclass(frozen=True)
class ClaudeCode:
    """The pinned Claude Code command line, run with its own HOME."""

    home: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        command = ["npx", "-y", f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}", *args]
        return subprocess.run(
            command,
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def claude(tmp_path: Path, npm_cache: str) -> ClaudeCode:
    """Claude Code with HOME in a temp dir: no login, no updates, no telemetry."""
    home = tmp_path / "claude-home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "npm_config_cache": npm_cache,
        "npm_config_update_notifier": "false",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "CLAUDE_CONFIG_DIR", "ANTHROPIC_API_KEY"):
        env.pop(name, None)
    return ClaudeCode(home, env)


IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules"
)


@pytest.fixture
def plugin_copy(tmp_path: Path) -> Path:
    """The plugin as Claude Code installs it: a plain copy of the repo, no git, no venv."""
    copy = tmp_path / "plugin root"  # a space, as in many real install paths
    shutil.copytree(skilldocs.ROOT, copy, ignore=IGNORED)
    return copy


@pytest.fixture
def install(
    claude: ClaudeCode, plugin_copy: Path, tmp_path: Path
) -> Callable[[str, str, str], Path]:
    """Add the copy as a marketplace and install the plugin with the given options."""
    workdir = tmp_path / "somewhere"  # not the repo: its .mcp.json would add a project server
    workdir.mkdir()

    def install_with(relay_url: str, client_id: str, token: str) -> Path:
        added = claude("plugin", "marketplace", "add", str(plugin_copy), cwd=workdir)
        assert added.returncode == 0, added.stdout + added.stderr
        installed = claude(
            "plugin",
            "install",
            "agent-relay@agent-relay",
            "--config",
            f"relay_url={relay_url}",
            "--config",
            f"client_id={client_id}",
            "--config",
            f"relay_token={token}",
            cwd=workdir,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        return workdir

    return install_with

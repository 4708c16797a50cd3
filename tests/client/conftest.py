"""Fixtures for the client's tests: a data root of its own, a configured machine, a CLI runner.

No test here reaches a network: HTTP is answered by ``responses`` (which refuses any request it
was not told about), and the relay URL is a loopback address all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import relay_client.api as api
import responses
from click.testing import CliRunner, Result
from relay_client import ClientConfig, DataPaths
from relay_client.cli import cli

RELAY = "http://127.0.0.1:7878"
TOKEN = "s3cret-token-value"
ME = "alice-laptop"


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch):
    """Retries happen at once: tests never sleep."""
    monkeypatch.setattr(api, "RETRY_BACKOFF_S", 0.0)


@pytest.fixture
def data_paths(tmp_path, monkeypatch) -> DataPaths:
    """An empty data root, the one every client object and command uses in this test."""
    monkeypatch.setenv("CLAUDE_USER_DATA", str(tmp_path / "claude-data"))
    monkeypatch.delenv("AGENT_RELAY_CLAUDE", raising=False)
    return DataPaths(tmp_path / "claude-data" / "agent-relay")


@pytest.fixture
def configured(data_paths) -> ClientConfig:
    """A machine that has been onboarded against the loopback relay."""
    config = ClientConfig(relay_url=RELAY, client_id=ME, token=TOKEN)
    config.save(data_paths.config)
    return config


@pytest.fixture
def relay_http() -> Iterator[responses.RequestsMock]:
    """Canned relay answers; a request nobody set up fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def run(tmp_path, monkeypatch) -> Callable[..., Result]:
    """Run ``agent-relay ARGS`` in-process from a scratch working directory."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def write() -> Callable[[Path, str], Path]:
    """Write a (hand-edited) file, creating its directory."""

    def write_text(path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write_text

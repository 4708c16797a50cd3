"""The operator docs keep up with the code: every setting and every command is documented."""

from pathlib import Path

import pytest

from relay_server.cli import main
from relay_server.config import ServerConfig

OPERATORS = (Path(__file__).resolve().parents[2] / "docs" / "operators.md").read_text()


@pytest.mark.parametrize("key", sorted(ServerConfig.model_fields))
def test_every_setting_is_described_in_code_and_in_the_operator_docs(key):
    assert ServerConfig.model_fields[key].description, key
    assert f"| `{key}` |" in OPERATORS


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_server_command_has_help_and_is_documented(command):
    assert main.commands[command].help
    assert f"agent-relay-server {command}" in OPERATORS

"""Every command explains itself and is documented in docs/client.md."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from relay_client.cli import cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def all_commands(group: click.Group = cli, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += all_commands(command, path + " ")
    return found


COMMANDS = all_commands()


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_each_command_has_help(path, command):
    assert command.help, f"`agent-relay {path}` has no help text"
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_each_command_is_in_the_client_docs(path, command):
    assert f"agent-relay {path}" in DOCS.read_text(encoding="utf-8")


def test_commands_are_kebab_case():
    for path, _ in COMMANDS:
        assert path == path.lower()
        assert "_" not in path

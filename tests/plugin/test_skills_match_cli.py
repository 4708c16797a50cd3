"""Skills and command lines agree: every command a skill runs exists, with every flag it passes.

The skills are the agent's only instructions, so a renamed command or flag must fail here, not
in front of a user. Commands are checked against the click objects themselves.
"""

import click
import pytest
import skilldocs
from skilldocs import check_invocation, cli_of, leaf_commands


def doc_commands(program: str, *, image: bool = False) -> list[skilldocs.Command]:
    text = skilldocs.USER_DOCS.read_text()
    return skilldocs.commands_in(text, "docs/plugin.md", program, image=image)


def command_id(command: skilldocs.Command) -> str:
    return f"{command.skill}:{' '.join(command.argv[:2])}"


@pytest.mark.parametrize(
    "command", skilldocs.all_commands("agent-relay") + doc_commands("agent-relay"), ids=command_id
)
def test_every_agent_relay_command_in_a_skill_or_the_docs_exists_with_its_flags(command):
    _, problems = check_invocation(cli_of("agent-relay"), command.argv)
    assert not problems, f"{command}: {problems}"


SERVER_COMMANDS = [
    *skilldocs.all_commands("agent-relay-server"),
    *doc_commands("agent-relay-server"),
    # The Docker image's entry point is agent-relay-server: `docker run IMAGE ARGS...`
    # (no ARGS runs the image's CMD, which test_dockerfile checks).
    *(c for c in doc_commands("agent-relay-server:local", image=True) if c.argv),
]


@pytest.mark.parametrize("command", SERVER_COMMANDS, ids=command_id)
def test_every_agent_relay_server_command_in_a_skill_or_the_docs_exists_with_its_flags(command):
    _, problems = check_invocation(cli_of("agent-relay-server"), command.argv)
    assert not problems, f"{command}: {problems}"


def test_every_agent_relay_command_is_taught_by_some_skill():
    root = cli_of("agent-relay")
    assert isinstance(root, click.Group)
    taught = {
        tuple(check_invocation(root, c.argv)[0]) for c in skilldocs.all_commands("agent-relay")
    }
    assert set(leaf_commands(root)) - taught == set()


def test_a_misspelt_flag_is_reported():
    @click.group()
    def cli() -> None: ...

    @cli.command()
    @click.argument("session")
    @click.option("--to", multiple=True)
    @click.option("--json", "as_json", is_flag=True)
    def send(session: str, to: tuple[str, ...], as_json: bool) -> None: ...

    assert check_invocation(cli, ("send", "s", "--to", "bob", "--json")) == (["send"], [])
    assert check_invocation(cli, ("send", "s", "--too", "bob"))[1] == ["`send` has no option --too"]
    assert check_invocation(cli, ("sned", "s"))[1] == ["`the top level` has no command 'sned'"]

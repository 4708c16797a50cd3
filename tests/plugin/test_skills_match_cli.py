"""Skills and command lines agree: every command a skill runs exists, with every flag it passes.

The skills are the agent's only instructions, so a renamed command or flag must fail here, not
in front of a user. Commands are checked against the click objects themselves.
"""

import ast
import functools
import re

import click
import pytest
import skilldocs
from skilldocs import check_invocation, cli_of, leaf_commands

from relay_client.cli.app import EXIT_CODES


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


# --- what a skill says a command prints, and which exit code it names -------------------------

SPAN = re.compile(r"`([^`]+)`")
EXIT_CLAIM = re.compile(r"`(?:Error: )?([a-z_]+)(?::[^`]*)?`\s*\((?:exit )?(\d+)\)")
ERROR_LINE = re.compile(r"^Error: ([a-z_]+)(?:: |$)")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9_]*\b(?![a-z-])|\.\.\.|\s{2,}")
EDGES = " '\"()[].,:;#"
FOREIGN_OUTPUT = {
    # uv's words, not agent-relay's
    "Installed 1 executable: agent-relay",
    "Installed 1 executable: agent-relay-server",
}
SOURCES = [
    skilldocs.ROOT / "packages" / package / "src" / module
    for package, module in (
        ("relay-client", "relay_client"),
        ("relay-server", "relay_server"),
        ("relay-core", "relay_core"),
    )
]


def skill_texts() -> list[tuple[str, str]]:
    """(skill, its prose: code blocks left out, line breaks folded to spaces)."""
    return [
        (s.folder, " ".join(skilldocs.FENCE.sub(" ", s.body).split()))
        for s in skilldocs.load_skills()
    ]


@functools.cache
def string_literals() -> list[str]:
    """Every literal piece of text in the packages' source (the constant parts of f-strings)."""
    pieces = []
    for root in SOURCES:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    pieces.append(node.value.lower())
    return pieces


def output_claims() -> list[tuple[str, str]]:
    """Backticked spans in skills that quote a line a command prints (a sentence or a doctor
    line), as opposed to a command, a flag, a name or a placeholder."""
    claims = []
    for skill, text in skill_texts():
        for span in SPAN.findall(text):
            words = span.split()
            sentence = len(words) >= 3 and re.match(r"[A-Z][a-z]|(OK|WARN|FAIL) ", span)
            command = span.startswith(("agent-relay ", "claude "))
            if sentence and not command and span not in FOREIGN_OUTPUT:
                claims.append((skill, span))
    return claims


def fragments(claim: str) -> list[str]:
    """The literal words of a claim, between its placeholders (CAPS words, `...`, column gaps)."""
    code = ERROR_LINE.match(claim)
    if code:
        claim = claim[code.end() :]
    pieces = (piece.strip(EDGES) for piece in PLACEHOLDER.split(claim))
    return [piece.lower() for piece in pieces if len(piece) >= 4]


def test_every_exit_code_a_skill_names_is_the_one_the_command_line_uses():
    claims = [
        (skill, code, int(number))
        for skill, text in skill_texts()
        for code, number in EXIT_CLAIM.findall(text)
    ]
    assert len(claims) >= 8  # the parser still finds them
    for skill, code, number in claims:
        assert EXIT_CODES.get(code) == number, f"{skill}: `{code}` ({number})"


def test_every_error_code_a_skill_quotes_exists():
    for skill, text in skill_texts():
        for span in SPAN.findall(text):
            code = ERROR_LINE.match(span)
            if code and code.group(1) not in ("CODE",):
                assert code.group(1) in EXIT_CODES, f"{skill}: {span}"


def in_code(piece: str, literals: list[str]) -> bool:
    """Whether ``piece`` is text of the code: inside one literal, or literals joined at word
    boundaries (a value such as a server name or a scope filled in between them)."""
    piece = piece.strip(EDGES)
    if len(piece) < 3 or any(piece in literal for literal in literals):
        return True
    words = piece.split(" ")
    return len(words) > 1 and any(
        in_code(" ".join(words[:cut]), literals) and in_code(" ".join(words[cut:]), literals)
        for cut in range(1, len(words))
    )


@pytest.mark.parametrize("claim", output_claims(), ids=lambda c: f"{c[0]}:{c[1][:40]}")
def test_every_output_a_skill_quotes_is_text_the_command_line_prints(claim):
    skill, span = claim
    literals = string_literals()
    missing = [piece for piece in fragments(span) if not in_code(piece, literals)]
    assert not missing, f"{skill}: `{span}`: no such text in the code: {missing}"


def test_a_renamed_output_is_noticed():
    literals = string_literals()
    assert all(in_code(piece, literals) for piece in fragments("Sent #ID to SESSION."))
    renamed = fragments("Dispatched #ID into SESSION.")
    assert not all(in_code(piece, literals) for piece in renamed)

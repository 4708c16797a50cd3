"""Reading the plugin's skills as data (frontmatter, code blocks, the commands in them) and
checking such commands against the real click command lines.

Shared by the plugin tests (tests/plugin) and the end-to-end skill test (tests/e2e); loaded by
path because the test suite runs with ``--import-mode=importlib`` (no package imports between
test folders).
"""

from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import yaml

ROOT = Path(__file__).resolve().parents[2]
SKILLS_DIR = ROOT / "skills"
CLAUDE_CODE_VERSION = "2.1.330"
"""Pinned: the validator's rules and `claude mcp list` output change between releases."""
USER_DOCS = ROOT / "docs" / "plugin.md"
SKILL_NAMES = (
    "approve-permissions",
    "connect-as-client",
    "create-session",
    "hand-off-task",
    "onboard",
    "relay-status",
    "send-file",
    "send-message",
    "setup-relay-server",
    "tail-session",
)
FENCE = re.compile(r"^```(?P<language>[^\n]*)\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "<<", "<<<", "(", ")"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PREFIX_COMMANDS = {
    # prefix command -> its options that take a value
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-R", "-T", "-U"},
    "env": {"-u", "-C", "-S"},
    "exec": {"-a"},
    "nohup": set(),
    "command": set(),
}
SSH_OPTIONS_WITH_VALUE = {
    "-b",
    "-c",
    "-D",
    "-E",
    "-F",
    "-i",
    "-J",
    "-l",
    "-L",
    "-o",
    "-p",
    "-R",
    "-W",
}


@dataclass(frozen=True)
class Skill:
    """One ``skills/<folder>/SKILL.md``: its frontmatter and the text after it."""

    folder: str
    frontmatter: dict[str, object]
    body: str

    @property
    def code_blocks(self) -> list[str]:
        """The contents of every fenced shell code block, in order."""
        return shell_blocks(self.body)


@dataclass(frozen=True)
class Command:
    """One invocation of a program found in a skill's code block."""

    skill: str
    program: str
    argv: tuple[str, ...]
    """The words after the program name, up to the first shell operator."""
    line: str

    def __str__(self) -> str:
        return f"{self.skill}: {self.line.strip()}"


def load_skill(folder: Path) -> Skill:
    """Split SKILL.md into its YAML frontmatter and body; raise ValueError without one."""
    text = (folder / "SKILL.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, re.DOTALL)
    if match is None:
        raise ValueError(f"{folder.name}/SKILL.md does not start with a --- frontmatter block")
    frontmatter = yaml.safe_load(match.group(1))
    if not isinstance(frontmatter, dict):
        raise ValueError(f"{folder.name}/SKILL.md frontmatter is not a mapping")
    return Skill(folder.name, frontmatter, match.group(2))


def load_skills() -> list[Skill]:
    """Every skill folder, sorted by name."""
    return [load_skill(path) for path in sorted(SKILLS_DIR.iterdir()) if path.is_dir()]


def shell_words(line: str) -> list[str]:
    """Split a shell line into words, with operators (``|``, ``<<``, ``>``...) as their own."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def simple_commands(words: list[str]) -> list[list[str]]:
    """``words`` cut at every shell operator (a redirection target starts a harmless piece)."""
    pieces: list[list[str]] = [[]]
    for word in words:
        if word in SHELL_OPERATORS:
            pieces.append([])
        else:
            pieces[-1].append(word)
    return [piece for piece in pieces if piece]


def command_words(words: list[str]) -> list[str]:
    """The command name and its arguments, past ``VAR=value`` and ``sudo``/``env`` prefixes."""
    index = 0
    while index < len(words):
        word = words[index]
        if ASSIGNMENT.match(word):
            index += 1
        elif word in PREFIX_COMMANDS:
            index += 1
            while index < len(words) and words[index].startswith("-"):
                index += 2 if words[index] in PREFIX_COMMANDS[word] else 1
        else:
            return words[index:]
    return []


def ssh_remote_command(arguments: list[str]) -> str:
    """What ``ssh [options] HOST COMMAND...`` runs on the host."""
    index = 0
    while index < len(arguments) and arguments[index].startswith("-"):
        index += 2 if arguments[index] in SSH_OPTIONS_WITH_VALUE else 1
    return " ".join(arguments[index + 1 :])


def invocations(line: str, program: str) -> list[tuple[str, ...]]:
    """The argument lists ``program`` is run with on the shell ``line``: as a command, not as a
    word elsewhere (a user or unit may share its name), including inside ``sudo``, ``env``,
    ``sh -c`` and ``ssh HOST`` commands."""
    found: list[tuple[str, ...]] = []
    for piece in simple_commands(shell_words(line)):
        words = command_words(piece)
        if not words:
            continue
        name, *arguments = words
        if name == program:
            found.append(tuple(arguments))
        elif name in ("sh", "bash") and "-c" in arguments[:-1]:
            found += invocations(arguments[arguments.index("-c") + 1], program)
        elif name == "ssh":
            found += invocations(ssh_remote_command(arguments), program)
    return found


def image_invocations(line: str, image: str) -> list[tuple[str, ...]]:
    """The arguments given to the entry point of the Docker ``image`` on ``line``
    (``docker run [options] IMAGE ARGS...``); naming the image when building it is no call."""
    found = []
    for piece in simple_commands(shell_words(line)):
        for index, word in enumerate(piece):
            if word == image and piece[index - 1] not in ("-t", "--tag"):
                found.append(tuple(piece[index + 1 :]))
    return found


def shell_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks of ``text`` that hold shell commands (a block
    marked ``text`` shows output, not commands)."""
    return [
        match["code"]
        for match in FENCE.finditer(text)
        if match["language"].strip() in SHELL_LANGUAGES
    ]


def commands_in(text: str, source: str, program: str, *, image: bool = False) -> list[Command]:
    """Every call of ``program`` (or of the Docker image ``program``) in the fenced code blocks
    of ``text`` (named ``source``)."""
    find = image_invocations if image else invocations
    return [
        Command(source, program, argv, line)
        for block in shell_blocks(text)
        for line in block.splitlines()
        for argv in find(line, program)
    ]


def skill_commands(skill: Skill, program: str) -> list[Command]:
    """Every call of ``program`` in the skill's code blocks."""
    return commands_in(skill.body, skill.folder, program)


def all_commands(program: str) -> list[Command]:
    """Every call of ``program`` in every skill."""
    return [command for skill in load_skills() for command in skill_commands(skill, program)]


# --- checking commands against the click command lines ---------------------------------------

PROGRAMS = {"agent-relay": "relay_client.cli", "agent-relay-server": "relay_server.cli"}


def cli_of(program: str) -> click.Command:
    """The click command behind ``program`` (its console script's ``main``, or the group that
    a plain ``main`` function runs)."""
    module = importlib.import_module(PROGRAMS[program])
    commands = [obj for obj in (module.main, getattr(module, "cli", None)) if obj is not None]
    return next(obj for obj in commands if isinstance(obj, click.Command))


def find_option(command: click.Command, name: str) -> click.Parameter | None:
    """The parameter of ``command`` that ``name`` (``--flag`` or ``-f``) belongs to."""
    ctx = click.Context(command)
    params = [*command.get_params(ctx)]
    return next((p for p in params if name in (*p.opts, *p.secondary_opts)), None)


def check_invocation(root: click.Command, argv: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Walk ``argv`` through the command tree: the command path it reaches and the problems."""
    path, problems = [], []
    command, arguments_started, index = root, False, 0
    while index < len(argv):
        word = argv[index]
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            option = find_option(command, name)
            if option is None:
                problems.append(f"`{' '.join(path) or 'the top level'}` has no option {name}")
            elif isinstance(option, click.Option) and not (option.is_flag or option.count):
                index += "=" not in word  # the option's value is the next word
        elif isinstance(command, click.Group) and not arguments_started:
            sub = command.get_command(click.Context(command), word)
            if sub is None:
                problems.append(f"`{' '.join(path) or 'the top level'}` has no command {word!r}")
                break
            path.append(word)
            command = sub
        else:
            arguments_started = True
        index += 1
    asks_the_group_itself = {"--help", "--version"} & set(argv)
    if isinstance(command, click.Group) and not problems and not asks_the_group_itself:
        problems.append(f"`{' '.join(path)}` is a group: a subcommand is missing")
    return path, problems


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every visible command below ``group`` that is not itself a group."""
    leaves = []
    for name in group.list_commands(click.Context(group)):
        sub = group.get_command(click.Context(group), name)
        if sub is None or sub.hidden:
            continue
        if isinstance(sub, click.Group):
            leaves += leaf_commands(sub, (*prefix, name))
        else:
            leaves.append((*prefix, name))
    return leaves

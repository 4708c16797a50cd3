"""The relay host's Dockerfile builds from what the repo has, and its build stage works.

Docker cannot run here, so the build stage's COPY/ENV/WORKDIR/RUN lines are replayed outside
docker, in a temp dir standing in for the image's file system, with uv offline.
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import skilldocs
from skilldocs import ROOT, check_invocation, cli_of

DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERIGNORE = (ROOT / ".dockerignore").read_text().splitlines()
IMAGE = "agent-relay-server:local"
"""The tag the usage comment and docs/plugin.md build the image as."""


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    arguments: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions with continuation lines joined; stages counted from 0."""
    text = re.sub(r"\\\n\s*", "", DOCKERFILE)
    found, stage = [], -1
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        stage += keyword.upper() == "FROM"
        found.append(Instruction(stage, keyword.upper(), arguments.strip()))
    return found


def copies_from_the_context() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY that reads the build context."""
    copies = []
    for instruction in instructions():
        words = shlex.split(instruction.arguments)
        if instruction.keyword == "COPY" and not any(w.startswith("--from") for w in words):
            copies.append((words[:-1], words[-1]))
    return copies


def ignored_by_dockerignore(path: str) -> bool:
    """Whether docker leaves ``path`` out of the context (the last matching pattern wins)."""
    ignored = False
    for pattern in (line.strip() for line in DOCKERIGNORE):
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_every_file_the_dockerfile_copies_exists_and_reaches_the_build_context():
    sources = [source for sources, _ in copies_from_the_context() for source in sources]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored_by_dockerignore(source), f"{source} is excluded by .dockerignore"


def test_the_build_context_leaves_out_the_client_tests_and_local_environments():
    for path in ("packages/relay-client/src", "tests", ".venv", ".git", "skills"):
        assert ignored_by_dockerignore(path), path


def test_the_image_installs_from_the_lock_file_without_dev_tools():
    runs = [i.arguments for i in instructions() if i.keyword == "RUN" and "uv sync" in i.arguments]
    assert runs
    for command in runs:
        assert "--frozen" in command
        assert "--package relay-server" in command
        assert "--no-dev" in command


@pytest.fixture(scope="module")
def built_environment(tmp_path_factory) -> Path:
    """The build stage replayed in a temp dir; returns the fake image root."""
    image = tmp_path_factory.mktemp("image")
    env = {**os.environ, "UV_OFFLINE": "1", "UV_NO_PROGRESS": "1"}
    env.pop("VIRTUAL_ENV", None)
    workdir = image
    for instruction in instructions():
        if instruction.stage != 0 or instruction.keyword in ("FROM", "ARG"):
            continue
        words = shlex.split(instruction.arguments)
        if instruction.keyword == "ENV":
            for pair in words:
                name, _, value = pair.partition("=")
                env[name] = str(image / value.lstrip("/")) if value.startswith("/") else value
        elif instruction.keyword == "WORKDIR":
            workdir = image / words[0].lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY" and words[0].startswith("--from"):
            continue  # the uv binary: here, the uv on PATH
        elif instruction.keyword == "COPY":
            *sources, destination = words
            target = workdir / destination
            for source in sources:
                into = target / Path(source).name if destination.endswith("/") else target
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, into, dirs_exist_ok=True)
                else:
                    into.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, into)
        elif instruction.keyword == "RUN":
            result = subprocess.run(
                ["bash", "-c", instruction.arguments],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, f"{instruction.arguments}\n{result.stderr}"
        else:
            pytest.fail(f"the test cannot replay {instruction.keyword} in the build stage")
    return image


def installed_packages(environment: Path) -> set[str]:
    return {path.name for path in environment.glob("lib/python*/site-packages/*")}


def test_the_build_stage_installs_the_relay_server_command(built_environment):
    assert (built_environment / "opt" / "agent-relay" / "bin" / "agent-relay-server").exists()


def test_the_build_stage_installs_only_the_server_side_not_the_client_or_dev_tools(
    built_environment,
):
    packages = installed_packages(built_environment / "opt" / "agent-relay")
    assert {"relay_server", "relay_core"} <= packages
    assert not {"relay_client", "pytest", "ruff"} & packages


def test_the_build_stage_installs_the_code_not_links_to_the_sources(built_environment):
    packages = installed_packages(built_environment / "opt" / "agent-relay")
    assert not [name for name in packages if name.endswith(".pth") and "relay" in name]


def test_the_image_command_is_one_the_server_accepts():
    entrypoint = next(i for i in instructions() if i.keyword == "ENTRYPOINT")
    command = next(i for i in instructions() if i.keyword == "CMD")
    program, *leading = json.loads(entrypoint.arguments)
    _, problems = check_invocation(cli_of(program), (*leading, *json.loads(command.arguments)))
    assert not problems


def test_the_dockerfile_usage_comment_uses_existing_commands():
    comment = "\n".join(line[1:] for line in DOCKERFILE.splitlines() if line.startswith("#"))
    lines = re.sub(r"\\\n\s*", " ", comment).splitlines()
    calls = [
        *(argv for line in lines for argv in skilldocs.invocations(line, "agent-relay-server")),
        # No arguments after the image runs its CMD, which the test above checks.
        *(argv for line in lines for argv in skilldocs.image_invocations(line, IMAGE) if argv),
    ]
    assert calls
    for argv in calls:
        _, problems = check_invocation(cli_of("agent-relay-server"), argv)
        assert not problems, argv

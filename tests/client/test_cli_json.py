"""The ``--json`` rule (docs/client.md), checked over every command of the tree.

Every command takes ``--json``; with it, stdout holds exactly one JSON object (``tail`` one per
line), and a failure is ``{"error": {"code", "message"}}`` with the exit code of that code. The
commands are found by walking the click tree, so a new command is covered, or fails here until
it is given ``--json`` and a sample invocation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
import requests

from relay_client.cli import cli
from relay_client.cli.app import EXIT_CODES

RELAY = "http://127.0.0.1:7878"
DIGEST = "ab" * 32


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    leaves = []
    for name in group.list_commands(click.Context(group)):
        sub = group.get_command(click.Context(group), name)
        assert sub is not None
        if isinstance(sub, click.Group):
            leaves += leaf_commands(sub, (*prefix, name))
        else:
            leaves.append((*prefix, name))
    return leaves


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


COMMANDS = leaf_commands(cli)

SAMPLES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("onboard",): ("--relay-url", RELAY, "--client-id", "alice-laptop", "--token", "t0k"),
    ("connect",): (),
    ("config", "path"): (),
    ("config", "show"): (),
    ("peers", "list"): ("--relay",),
    ("peers", "add"): ("bob", "bob-ws"),
    ("peers", "remove"): ("carol",),
    ("session", "create"): ("build-42", "--with", "bob-ws"),
    ("session", "list"): (),
    ("session", "show"): ("build-42",),
    ("session", "close"): ("build-42",),
    ("session", "invite"): ("build-42", "bob-ws"),
    ("session", "leave"): ("build-42",),
    ("send",): ("build-42", "hello"),
    ("send-file",): ("build-42", "report.txt"),
    ("fetch-file",): (DIGEST,),
    ("tail",): ("build-42",),
    ("search",): ("deploy",),
    ("role", "claim"): ("build-42", "reviewer"),
    ("message", "status"): ("12",),
    ("role", "release"): ("build-42", "reviewer"),
    ("status",): (),
    ("doctor",): (),
    ("task", "give"): ("build-42", "Run the tests", "--to", "bob-ws", "--file", "report.txt"),
    ("task", "list"): ("--mine",),
    ("task", "show"): ("7",),
    ("task", "claim"): ("7",),
    ("task", "update"): ("7", "completed", "--note", "done"),
    ("task", "wait"): ("7", "--timeout", "1"),
    ("approvers", "set"): ("carol",),
    ("approvers", "show"): (),
    ("approvers", "clear"): (),
    ("push-from", "set"): ("carol", "bob-ws"),
    ("push-from", "show"): (),
    ("push-from", "clear"): (),
    ("approvals",): ("--history",),
    ("answer-approval",): ("7", "allow", "--note", "fine"),
}
"""A plausible invocation of each command (without --json)."""


def documents(stdout: str, path: tuple[str, ...]) -> list[object]:
    """The JSON documents on stdout: exactly one, or one a line for the stream (`tail`)."""
    if path == ("tail",):
        return [json.loads(line) for line in stdout.splitlines()]
    return [json.loads(stdout)]


def check_error(document: object, exit_code: int) -> None:
    assert isinstance(document, dict)
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message"}
    assert EXIT_CODES[document["error"]["code"]] == exit_code


def test_every_command_has_a_sample_invocation():
    assert set(SAMPLES) == set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_takes_json(path):
    options = {opt for param in command_at(path).params for opt in param.opts}
    assert "--json" in options


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_a_usage_error_under_json_is_a_json_error(data_paths, run, path):
    result = run(*path, "--json", "--no-such-option")
    assert result.exit_code == 2
    [document] = documents(result.stdout, ())
    check_error(document, 2)
    assert document["error"]["code"] == "invalid"
    assert "--no-such-option" in document["error"]["message"]
    assert result.stderr.startswith("Usage:") or "Error:" in result.stderr


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_under_json_stdout_is_one_object_or_one_error_when_the_relay_refuses(
    configured_loopback, loopback_relay, relay_http, run, path
):
    """Against a relay that answers every request with not_found: each command prints either its
    JSON object (a command that needs no relay) or the error, never text, on stdout.

    Requests through requests are answered by ``responses``; ``send``'s stdlib client reaches the
    real loopback server, which refuses them the same way."""
    Path("report.txt").write_text("numbers\n")  # in the working directory of `run`
    run("peers", "add", "carol", "carol-box")
    relay = configured_loopback.relay_url

    def not_found(path: str) -> dict[str, object]:
        return {"error": {"code": "not_found", "message": f"nothing at {path}"}}

    def refuse(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = json.dumps(not_found(request.path_url))
        return 404, {"Content-Type": "application/json"}, body

    loopback_relay.answer_all(404, not_found("this path"))
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        relay_http.add_callback(method, re.compile(f"{re.escape(relay)}/.*"), callback=refuse)
    result = run(*path, *SAMPLES[path], "--json")
    if path == ("send",):
        assert loopback_relay.calls  # it was refused by the real server, not by a closed port
    docs = documents(result.stdout, path)
    assert len(docs) == 1 or path == ("tail",)
    for document in docs:
        assert isinstance(document, dict)
    if result.exit_code == 0:
        assert "error" not in docs[-1]
    elif path == ("doctor",):
        assert result.exit_code == 1  # the report is the answer; a failed check exits 1
        assert "checks" in docs[-1]
    else:
        check_error(docs[-1], result.exit_code)
        error = docs[-1]["error"]
        assert result.stderr.startswith(f"Error: {error['code']}: {error['message']}")

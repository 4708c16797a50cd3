"""Approving from another machine with the command line: `approvers`, `approvals [--follow]
[--history]`, `answer-approval` and `push-from`, against the real relay, while an MCP client
acting as Claude Code on the home machine asks and gets the answer."""

from __future__ import annotations

import json

import anyio
import pytest

from tests.e2e.test_two_machines import Machine, make_machine
from tests.server.test_approvals import Inbox, ask, live_client

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def home(relay, tmp_path_factory) -> Machine:
    return make_machine(tmp_path_factory, relay, "home-server", "phone=phone-box")


@pytest.fixture(scope="module")
def phone(relay, tmp_path_factory) -> Machine:
    return make_machine(tmp_path_factory, relay, "phone-box", "home=home-server")


def as_json(machine: Machine, *args: str) -> dict:
    return json.loads(machine.ok(*args, "--json").stdout)


async def test_a_prompt_is_followed_answered_and_kept_from_another_machine(relay, home, phone):
    phone.ok("approvers", "show")  # the relay knows phone-box once it called
    assert as_json(home, "approvers", "set", "phone")["approvers"] == ["phone-box"]
    assert "Approvers: phone" in home.ok("approvers", "show").stdout

    following = phone.spawn("approvals", "--follow", "--json")
    asker = Inbox()
    try:
        async with live_client(relay, "home-server", asker) as cc:
            await cc.call_tool("whoami", {})
            await ask(cc, "hjkmn", description="run the migrations")
            line = await anyio.to_thread.run_sync(following.stdout.readline)
            followed = json.loads(line)
            assert (followed["requester"], followed["tool"]) == ("home-server", "Bash")

            table = phone.ok("approvals").stdout
            row = next(r for r in table.splitlines() if r.startswith(str(followed["id"])))
            assert row.split()[1:3] == ["home", "Bash"]
            answer = phone.ok("answer-approval", str(followed["id"]), "deny", "--note", "not now")
            assert f"Denied approval {followed['id']}: Bash" in answer.stdout
            await asker.wait_until(lambda: asker.answers)
    finally:
        following.terminate()
        following.communicate(timeout=10)
    assert [a.behavior for a in asker.answers] == ["deny"]

    again = phone.run("answer-approval", str(followed["id"]), "allow")
    assert again.exit_code == 6, again.output  # conflict
    assert "already denied by phone-box" in again.output
    history = as_json(phone, "approvals", "--history")["approvals"]
    assert [(a["id"], a["state"], a["note"]) for a in history] == [
        (followed["id"], "denied", "not now")
    ]
    assert as_json(home, "approvers", "clear")["approvers"] == []


def test_push_from_is_set_shown_and_cleared(home, phone):
    phone.ok("approvers", "show")
    assert as_json(home, "push-from", "set", "phone")["push_from"] == ["phone-box"]
    assert "Push from: phone" in home.ok("push-from", "show").stdout
    assert as_json(home, "push-from", "clear")["push_from"] is None
    assert "anyone who shares a session" in home.ok("push-from", "show").stdout
    unknown = home.run("push-from", "set", "nobody-here")
    assert unknown.exit_code == 5, unknown.output  # not_found: nothing changed
    assert as_json(home, "push-from", "show")["push_from"] is None

"""A task handed off between two machines (separate data roots) through the real relay, with
the `agent-relay task` commands: an input file, an input-required round, and a result file the
giver fetches once the task is completed."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.e2e.test_two_machines import Machine, make_machine


@pytest.fixture(scope="module")
def giver(relay, tmp_path_factory) -> Machine:
    return make_machine(tmp_path_factory, relay, "giver-box", "worker=worker-box")


@pytest.fixture(scope="module")
def worker(relay, tmp_path_factory) -> Machine:
    return make_machine(tmp_path_factory, relay, "worker-box", "boss=giver-box")


def as_json(machine: Machine, *args: str) -> dict:
    return json.loads(machine.ok(*args, "--json").stdout)


def test_a_task_travels_from_giver_to_worker_and_back_with_its_files(
    relay, giver, worker, session_name
):
    giver.ok("session", "create", session_name, "--with", "worker")
    (giver.workdir / "plan.md").write_text("1. build\n2. test\n")
    given = as_json(
        giver, "task", "give", session_name, "Ship it", "--to", "worker", "--file", "plan.md"
    )
    task_id = str(given["id"])
    assert (given["state"], given["assignee"]) == ("submitted", "worker-box")

    mine = as_json(worker, "task", "list", "--mine")["tasks"]
    assert [(t["id"], t["state"]) for t in mine] == [(given["id"], "submitted")]
    shown = as_json(worker, "task", "show", task_id)
    plan = shown["inputs"][0]
    worker.ok("fetch-file", plan["sha256"], "-o", "plan.md")
    assert (worker.workdir / "plan.md").read_text() == "1. build\n2. test\n"

    as_json(worker, "task", "claim", task_id)
    asked = as_json(worker, "task", "update", task_id, "input-required", "--note", "which tag?")
    assert asked["state"] == "input-required"

    waited = as_json(giver, "task", "wait", task_id, "--timeout", "30")
    assert (waited["timed_out"], waited["task"]["history"][-1]["note"]) == (False, "which tag?")
    as_json(giver, "task", "update", task_id, "working", "--note", "v4.2")

    # The giver's wait runs as a process of its own, parked on the relay before the worker acts.
    parked = relay.listeners()
    waiting = giver.spawn(
        "task", "wait", task_id, "--until", "completed", "--timeout", "60", "--json"
    )
    relay.wait_for_listeners(parked + 1, timeout_s=30)
    (worker.workdir / "report.txt").write_text("all green\n")
    done = as_json(
        worker, "task", "update", task_id, "completed", "--note", "shipped", "--file", "report.txt"
    )
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert done["state"] == "completed"
    assert json.loads(out)["task"]["state"] == "completed"
    assert json.loads(out)["timed_out"] is False

    result = as_json(giver, "task", "show", task_id)["results"][0]
    assert result["sha256"] == hashlib.sha256(b"all green\n").hexdigest()
    giver.ok("fetch-file", result["sha256"], "-o", "result.txt")
    assert (giver.workdir / "result.txt").read_text() == "all green\n"

    text = giver.ok("task", "show", task_id).stdout
    assert "[completed]" in text
    assert "input-required→working by you: v4.2" in text
    history = [line.split()[2] for line in text.splitlines() if line.startswith("  20")]
    assert history == [
        "submitted",
        "submitted→working",
        "working→input-required",
        "input-required→working",
        "working→completed",
    ]
    tail = giver.ok("tail", session_name).stdout
    assert tail.count("[task ") == 5

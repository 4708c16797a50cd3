"""Two "machines" (separate data roots) and the real relay: the client end to end.

Each machine is the ``agent-relay`` command with its own ``CLAUDE_USER_DATA``; commands run
in-process through click's runner, and ``tail --follow`` runs as the installed console script in
a process of its own, interrupted with ^C as a person would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relay_client import Cursors, partial_path
from relay_client.cli import cli

MIB = 1024 * 1024
LINE_TIMEOUT_S = 20.0


@dataclass
class Machine:
    """One agent machine: a client id, a data root and a working directory."""

    client_id: str
    home: Path
    workdir: Path
    onboarded: Result | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"CLAUDE_USER_DATA": str(self.home), "AGENT_RELAY_CLAUDE": str(self.home / "none")}

    @property
    def cursors(self) -> Cursors:
        return Cursors(self.home / "agent-relay" / "cursors")

    def run(self, *args: str, input: str | None = None) -> Result:
        with contextlib.chdir(self.workdir):
            return CliRunner().invoke(
                cli, list(args), input=input, env=self.env, catch_exceptions=False
            )

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.run(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Run the installed ``agent-relay`` console script as its own process."""
        script = shutil.which("agent-relay", path=str(Path(sys.executable).parent))
        assert script, "the agent-relay console script is not installed"
        return subprocess.Popen(
            [script, *args],
            cwd=self.workdir,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def make_machine(tmp_path_factory, relay, client_id: str, *peers: str) -> Machine:
    base = tmp_path_factory.mktemp(client_id)
    machine = Machine(client_id, base / "claude-data", base / "cwd")
    machine.workdir.mkdir()
    args = ["onboard", "--relay-url", relay.url, "--client-id", client_id, "--token", relay.token]
    for peer in peers:
        args += ["--add-peer", peer]
    machine.onboarded = machine.run(*args)
    return machine


@pytest.fixture(scope="module")
def alpha(relay, tmp_path_factory) -> Machine:
    """The first machine, onboarded, with beta in its roster as 'bee'."""
    return make_machine(tmp_path_factory, relay, "alpha-box", "bee=beta-box")


@pytest.fixture(scope="module")
def beta(relay, tmp_path_factory) -> Machine:
    """The second machine, onboarded, with alpha in its roster as 'ay'."""
    return make_machine(tmp_path_factory, relay, "beta-box", "ay=alpha-box")


def printed_ids(result: Result) -> list[int]:
    return [int(line.split()[0][1:]) for line in result.stdout.splitlines() if line[:1] == "#"]


def test_both_machines_onboard_against_the_real_relay(alpha, beta):
    for machine in (alpha, beta):
        assert machine.onboarded.exit_code == 0, machine.onboarded.output
        assert f"Token accepted: you are {machine.client_id}" in machine.onboarded.stdout
    assert alpha.home != beta.home
    config = (alpha.home / "agent-relay" / "config.toml").stat()
    assert config.st_mode & 0o777 == 0o600


def test_messages_flow_both_ways_and_cursors_hold_the_last_printed_id(alpha, beta, session_name):
    alpha.ok("session", "create", session_name, "--with", "bee", "--description", "e2e")
    first = json.loads(alpha.ok("send", session_name, "hello beta", "--json").stdout)["id"]
    second = json.loads(alpha.ok("send", session_name, "-", "--json", input="two\nlines\n").stdout)[
        "id"
    ]

    seen = beta.ok("tail", session_name)
    assert printed_ids(seen) == [first, second]
    assert "    hello beta" in seen.stdout
    assert "ay" in seen.stdout  # alpha shown by its roster name
    assert beta.cursors.get(session_name) == second
    assert beta.cursors.path_for(session_name).read_text() == f"{second}\n"

    assert beta.ok("tail", session_name).stdout == ""
    reply = json.loads(
        beta.ok(
            "send", session_name, "hello alpha", "--to", "ay", "--reply-to", str(first), "--json"
        ).stdout
    )["id"]
    assert beta.cursors.get(session_name) == second  # sending never moves the cursor

    mine_and_theirs = alpha.ok("tail", session_name)
    assert printed_ids(mine_and_theirs) == [first, second, reply]
    assert alpha.cursors.get(session_name) == reply

    assert printed_ids(beta.ok("tail", session_name)) == [reply]
    assert beta.cursors.get(session_name) == reply
    assert printed_ids(beta.ok("tail", session_name, "--since", str(first))) == [second, reply]
    assert beta.cursors.get(session_name) == reply


def test_sessions_are_listed_shown_and_closed_across_machines(alpha, beta, session_name):
    alpha.ok("session", "create", session_name)
    alpha.ok("session", "invite", session_name, "bee")
    alpha.ok("send", session_name, "are you there?")
    listed = json.loads(beta.ok("session", "list", "--json").stdout)["sessions"]
    row = next(s for s in listed if s["name"] == session_name)
    assert row["unread"] == 1
    shown = json.loads(beta.ok("session", "show", session_name, "--json").stdout)
    assert {p["client_id"] for p in shown["participants"]} == {"alpha-box", "beta-box"}

    refused = beta.run("session", "close", session_name)
    assert refused.exit_code == 4
    assert refused.stderr.startswith("Error: forbidden: ")
    alpha.ok("session", "close", session_name)
    closed = beta.run("send", session_name, "too late")
    assert closed.exit_code == 6
    assert closed.stderr.startswith("Error: conflict: ")


def test_tail_mark_read_clears_the_unread_count(alpha, beta, session_name):
    alpha.ok("session", "create", session_name, "--with", "bee")
    alpha.ok("send", session_name, "one")
    beta.ok("tail", session_name, "--mark-read")
    listed = json.loads(beta.ok("session", "list", "--json").stdout)["sessions"]
    assert next(s for s in listed if s["name"] == session_name)["unread"] == 0


def _lines(stream) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def test_tail_follow_prints_a_message_sent_while_it_waits(alpha, beta, session_name):
    alpha.ok("session", "create", session_name, "--with", "bee")
    before = json.loads(alpha.ok("send", session_name, "before", "--json").stdout)["id"]
    with beta.spawn("tail", session_name, "--follow", "--json") as follower:
        try:
            lines = _lines(follower.stdout)
            assert json.loads(lines.get(timeout=LINE_TIMEOUT_S))["id"] == before
            during = json.loads(alpha.ok("send", session_name, "during", "--json").stdout)["id"]
            arrived = json.loads(lines.get(timeout=LINE_TIMEOUT_S))
            assert (arrived["id"], arrived["text"]) == (during, "during")
            assert arrived["sender"] == "alpha-box"
            follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=LINE_TIMEOUT_S) == 0
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
        assert "Traceback" not in follower.stderr.read()
    assert beta.cursors.get(session_name) == during


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    """50 MiB of random bytes (they cannot be deduplicated or compressed away)."""
    path = tmp_path_factory.mktemp("files") / "payload.bin"
    with path.open("wb") as handle:
        for _ in range(50):
            handle.write(os.urandom(MIB))
    return path


@pytest.mark.slow
def test_a_50_mib_file_goes_from_one_machine_to_the_other(alpha, beta, session_name, big_file):
    digest = hashlib.sha256(big_file.read_bytes()).hexdigest()
    alpha.ok("session", "create", session_name, "--with", "bee")
    sent = json.loads(
        alpha.ok("send-file", session_name, str(big_file), "--note", "the payload", "--json").stdout
    )
    [attached] = sent["message"]["attachments"]
    assert (attached["sha256"], attached["size"], sent["uploaded"]) == (digest, 50 * MIB, True)

    tail = beta.ok("tail", session_name, "--json")
    message = json.loads(tail.stdout.splitlines()[-1])
    assert message["attachments"][0]["sha256"] == digest
    assert beta.cursors.get(session_name) == sent["message"]["id"]

    fetched = beta.ok("fetch-file", str(message["id"]))
    assert "sha256 verified" in fetched.stdout
    copy = beta.workdir / "payload.bin"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest

    again = beta.run("fetch-file", str(message["id"]))
    assert again.exit_code == 6
    assert "pass --force" in again.stderr

    resent = json.loads(alpha.ok("send-file", session_name, str(big_file), "--json").stdout)
    assert resent["uploaded"] is False


@pytest.mark.slow
def test_an_interrupted_download_resumes_from_its_part_file(alpha, beta, session_name, big_file):
    digest = hashlib.sha256(big_file.read_bytes()).hexdigest()
    alpha.ok("session", "create", session_name, "--with", "bee")
    alpha.ok("send-file", session_name, str(big_file))
    out = beta.workdir / "resumed.bin"
    with big_file.open("rb") as source:
        partial_path(out, digest).write_bytes(source.read(20 * MIB))
    result = json.loads(beta.ok("fetch-file", digest, "-o", str(out), "--json").stdout)
    assert result["files"][0]["resumed_from"] == 20 * MIB
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert not partial_path(out, digest).exists()


def test_status_and_doctor_on_a_working_machine(alpha, beta):
    status = json.loads(alpha.ok("status", "--json").stdout)
    assert status["status"]["caller"] == "alpha-box"
    doctor = alpha.run("doctor", "--json")
    assert doctor.exit_code == 0, doctor.output
    states = {c["name"]: c["state"] for c in json.loads(doctor.stdout)["checks"]}
    assert states["relay"] == states["token"] == states["clock"] == "ok"
    assert states["claude code"] == "warn"  # not installed on this machine


def test_a_wrong_token_is_refused_in_one_sentence(relay, tmp_path_factory):
    machine = Machine("mallory", *(tmp_path_factory.mktemp("mallory") / d for d in ("h", "w")))
    machine.workdir.mkdir()
    result = machine.run(
        "onboard", "--relay-url", relay.url, "--client-id", "mallory", "--token", "wrong-token"
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: unauthorized: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_stopped_relay_gives_the_connection_refused_sentence(start_relay, tmp_path_factory):
    own = start_relay()
    machine = make_machine(tmp_path_factory, own, "gamma-box")
    assert machine.onboarded.exit_code == 0, machine.onboarded.output
    own.stop()
    result = machine.run("status")
    assert result.exit_code == 9
    assert result.stderr == (
        f"Error: unavailable: cannot reach the relay at {own.url}: connection refused — "
        "is `agent-relay-server serve` running?\n"
    )

"""``tail --follow`` against a real relay process that is stopped and started again.

The follower runs as the installed ``agent-relay`` console script, as the tail-session skill runs
it in the background; the relay is restarted on the same port and data directory.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("relay_server.app", reason="the relay server is not installed")

from relay_client import Cursors, RelayClient
from relay_client.cli import cli

LINE_TIMEOUT_S = 30.0


def _lines(stream, readers: list[threading.Thread]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True)
    reader.start()
    readers.append(reader)
    return lines


def _drain(lines: queue.Queue[str]) -> list[str]:
    drained = []
    while not lines.empty():
        drained.append(lines.get_nowait())
    return drained


def test_tail_follow_survives_a_relay_restart_without_losing_or_repeating(
    start_relay, tmp_path, session_name
):
    relay = start_relay()
    home = tmp_path / "claude-data"
    env = {"CLAUDE_USER_DATA": str(home), "AGENT_RELAY_CLAUDE": str(tmp_path / "no-claude")}
    onboard = ["onboard", "--relay-url", relay.url, "--client-id", "beta-box"]
    result = CliRunner().invoke(cli, [*onboard, "--token", relay.token], env=env)
    assert result.exit_code == 0, result.output
    alpha = RelayClient(relay.url, "alpha-box", relay.token)
    alpha.create_session(session_name, ["beta-box"])
    sent = [alpha.send_message(session_name, "before the restart").id]

    script = shutil.which("agent-relay", path=str(Path(sys.executable).parent))
    assert script, "the agent-relay console script is not installed"
    command = [script, "tail", session_name, "--follow", "--json"]
    readers: list[threading.Thread] = []
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        try:
            out, err = _lines(follower.stdout, readers), _lines(follower.stderr, readers)
            assert json.loads(out.get(timeout=LINE_TIMEOUT_S))["id"] == sent[0]

            relay.stop()
            notice = err.get(timeout=LINE_TIMEOUT_S)
            assert notice.startswith("agent-relay: relay unavailable (")
            assert follower.poll() is None, "the follower gave up"

            relay.start()  # same port, same data directory
            alpha.close()
            alpha = RelayClient(relay.url, "alpha-box", relay.token)
            sent += [alpha.send_message(session_name, f"after the restart {n}").id for n in (1, 2)]
            got = [json.loads(out.get(timeout=LINE_TIMEOUT_S))["id"] for _ in (1, 2)]
            assert got == sent[1:]
            assert err.get(timeout=LINE_TIMEOUT_S).startswith("agent-relay: reconnected after ")

            follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=LINE_TIMEOUT_S) == 0
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
            for reader in readers:  # they end at the pipes' end of file, before the pipes close
                reader.join(timeout=LINE_TIMEOUT_S)
            alpha.close()
    assert _drain(out) == []  # nothing printed twice
    rest = _drain(err)
    assert not any("relay unavailable" in line or "Traceback" in line for line in rest), rest
    assert Cursors(home / "agent-relay" / "cursors").get(session_name) == sent[-1]

"""Every command the skills give runs, as written, against a real relay.

Each skill's shell code blocks that call `agent-relay` run in bash, in order, on "alice"'s
machine (her own data root), with the placeholders (SESSION, PEER, ...) filled in. A second
machine, "bob", is the peer: he is in the session and has sent a file, and he posts a fresh
message before each block that reads, so `tail` always has something new to print.

The setup-relay-server skill runs on a relay host over SSH with sudo; here its
`agent-relay-server` commands run on this machine, in a temp dir standing in for /var/lib, and the
relay is started with the unit's own ExecStart line.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
import requests

# The skill reader of tests/plugin, by path: the suite imports no test folder as a package.
if "skilldocs" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "skilldocs", Path(__file__).parents[1] / "plugin" / "skilldocs.py"
    )
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules["skilldocs"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["skilldocs"])
skilldocs = sys.modules["skilldocs"]

BIN = Path(sys.executable).parent
"""Where this environment installed `agent-relay` and `agent-relay-server`."""
COMMAND_TIMEOUT_S = 120.0
FOLLOW_TIMEOUT_S = 20.0


@dataclass
class Machine:
    """One agent machine: a client id and a data root of its own."""

    client_id: str
    env: dict[str, str]
    workdir: Path

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    def agent_relay(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `agent-relay ARGS`; fail the test if it fails."""
        result = self.run(["agent-relay", *args])
        assert result.returncode == 0, f"agent-relay {shlex.join(args)}:\n{result.stderr}"
        return result

    def bash(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run a skill's code block as a bash script that stops at the first failure."""
        return self.run(["bash", "-euo", "pipefail", "-c", script])


def machine(tmp_path: Path, client_id: str, **env: str) -> Machine:
    home = tmp_path / client_id
    workdir = home / "work"
    workdir.mkdir(parents=True)
    return Machine(
        client_id,
        {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "CLAUDE_USER_DATA": str(home / "claude-data"),
            **env,
        },
        workdir,
    )


def fill(script: str, values: dict[str, str]) -> str:
    """The script with every placeholder word replaced by its value."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, values)) + r")\b")
    return pattern.sub(lambda match: values[match.group(1)], script)


def runs_agent_relay(block: str, argument: str | None = None) -> bool:
    """Whether the block calls `agent-relay` (with ``argument`` as its first word, if given)."""
    return any(
        argument is None or argv[:1] == (argument,)
        for line in block.splitlines()
        for argv in skilldocs.invocations(line, "agent-relay")
    )


def run_until_output(alice: Machine, script: str, expected: str) -> tuple[int, str]:
    """Start a never-ending command, wait until it prints ``expected``, then Ctrl-C it."""
    with subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        env=alice.env,
        cwd=alice.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as process:
        assert process.stdout is not None
        output = b""
        deadline = time.monotonic() + FOLLOW_TIMEOUT_S
        try:
            # Raw reads: a buffered reader would hide lines it has already taken from the pipe.
            while expected.encode() not in output and time.monotonic() < deadline:
                ready, _, _ = select.select([process.stdout], [], [], 0.5)
                if ready:
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    output += chunk
            assert process.poll() is None, f"it ended by itself:\n{output.decode()}"
            assert expected.encode() in output, f"not printed while running:\n{output.decode()}"
        finally:
            os.killpg(process.pid, signal.SIGINT)
            returncode = process.wait(timeout=10)
    return returncode, output.decode()


@pytest.fixture
def alice(tmp_path, npm_claude) -> Machine:
    return machine(tmp_path, "alice-e2e", **npm_claude)


@pytest.fixture
def bob(tmp_path) -> Machine:
    return machine(tmp_path, "bob-e2e")


@pytest.fixture
def npm_claude(tmp_path) -> dict[str, str]:
    """`AGENT_RELAY_CLAUDE`: the pinned Claude Code with its own HOME, when npx is there."""
    if not shutil.which("npx"):
        return {}
    home = tmp_path / "claude-home"
    home.mkdir()
    cache = subprocess.run(
        ["npm", "config", "get", "cache"], capture_output=True, text=True, check=True
    ).stdout.strip()
    wrapper = tmp_path / "claude"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"export HOME={shlex.quote(str(home))} npm_config_cache={shlex.quote(cache)}\n"
        "export DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1\n"
        "export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1\n"
        f'exec npx -y @anthropic-ai/claude-code@{skilldocs.CLAUDE_CODE_VERSION} "$@"\n'
    )
    wrapper.chmod(0o755)
    return {"AGENT_RELAY_CLAUDE": str(wrapper)}


SKILLS = {skill.folder: skill for skill in skilldocs.load_skills()}
CLIENT_SKILLS = [
    pytest.param(
        name,
        marks=[pytest.mark.node] if name == "connect-as-client" else [],
    )
    for name in skilldocs.SKILL_NAMES
    if name != "setup-relay-server"
]


@pytest.mark.parametrize("name", CLIENT_SKILLS)
def test_every_agent_relay_command_of_a_skill_runs_against_a_real_relay(
    name, relay, alice, bob, require_tool
):
    skill = SKILLS[name]
    session_name = f"e2e-{name}"  # the relay is shared by the module's tests
    if name == "connect-as-client":
        require_tool(
            "AGENT_RELAY_CLAUDE" in alice.env, "connect needs Claude Code: npx is not installed"
        )
    onboard = ["onboard", "--relay-url", relay.url, "--token", relay.token or ""]
    bob.agent_relay(*onboard, "--client-id", bob.client_id)
    values = {
        "RELAY_URL": relay.url,
        "CLIENT_ID": alice.client_id,
        "TOKEN": relay.token or "",
        "PEER": "bob",
        "PEER_ID": bob.client_id,
        "SESSION": session_name,
        "TEXT": f"hello from the {name} skill",
        "FILE": "notes.txt",
        "DEST": "fetched.txt",
    }
    (alice.workdir / "notes.txt").write_text("alice's notes\n")
    if name == "onboard":  # a one-time join code, as the relay's operator prints it
        printed = relay.admin("join-code", "--address", f"127.0.0.1:{relay.port}")
        values["CODE"] = printed.split("--join ", 1)[1].split()[0]
    if name != "onboard":
        roster = [] if name == "create-session" else ["--add-peer", f"bob={bob.client_id}"]
        alice.agent_relay(*onboard, "--client-id", alice.client_id, *roster)
    if name not in ("onboard", "create-session"):
        bob.agent_relay("session", "create", session_name, "--with", alice.client_id)
        (bob.workdir / "report.txt").write_text("bob's report\n")
        shared = json.loads(
            bob.agent_relay("send-file", session_name, "report.txt", "--json").stdout
        )
        values["MESSAGE_ID"] = str(shared["message"]["id"])
        values["SHA256"] = shared["message"]["attachments"][0]["sha256"]
        given = bob.agent_relay(
            "task", "give", session_name, "Check the report", "--to", alice.client_id, "--json"
        )
        values["TASK_ID"] = str(json.loads(given.stdout)["id"])

    with contextlib.ExitStack() as stack:
        if name == "approve-permissions":  # a prompt of bob's Claude Code, for alice to answer
            values["APPROVAL_ID"] = stack.enter_context(asking(relay, bob, alice))
        run_blocks(skill, values, alice, bob, session_name)


def run_blocks(skill, values, alice, bob, session_name) -> None:
    """Run each of the skill's blocks that calls agent-relay, as alice, with values filled in."""
    blocks = [block for block in skill.code_blocks if runs_agent_relay(block)]
    assert blocks
    for number, block in enumerate(blocks):
        script = fill(block, values)
        reads = runs_agent_relay(block, "tail")
        fresh = f"news #{number} from bob"
        if reads:
            bob.agent_relay("send", session_name, fresh)
        if "--follow" in script:
            returncode, output = run_until_output(alice, script, fresh)
            assert returncode == 0, output
            continue
        result = alice.bash(script)
        assert result.returncode == 0, f"{script}\nstdout:\n{result.stdout}\n{result.stderr}"
        if reads:
            assert fresh in result.stdout, f"{script} did not print bob's message"


@contextlib.contextmanager
def asking(relay, asker: Machine, approver: Machine) -> Iterator[str]:
    """While an MCP client acting as ``asker``'s Claude Code holds one permission prompt open
    for ``approver``: the approval's id."""
    from tests.server.test_approvals import ask, live_client

    for client_id in (approver.client_id, asker.client_id):
        requests.get(f"{relay.url}/api/v1/settings", headers=relay.headers(client_id), timeout=10)
    requests.put(
        f"{relay.url}/api/v1/settings",
        headers=relay.headers(asker.client_id),
        json={"approvers": [approver.client_id]},
        timeout=10,
    ).raise_for_status()
    with anyio.from_thread.start_blocking_portal() as portal:
        client = live_client(relay, asker.client_id)
        portal.call(client.__aenter__)
        try:
            portal.call(client.call_tool, "whoami", {})
            portal.call(ask, client, "skill")
            found = requests.get(
                f"{relay.url}/api/v1/approvals?wait=10",
                headers=relay.headers(approver.client_id),
                timeout=30,
            ).json()["approvals"]
            yield str(found[0]["id"])
        finally:
            portal.call(client.__aexit__, None, None, None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the relay exited at start"
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    pytest.fail(f"the relay at {url} did not answer")


def test_the_relay_host_commands_of_setup_relay_server_run_and_the_unit_starts_the_relay(
    tmp_path,
):
    state = tmp_path / "var-lib-agent-relay"
    state.mkdir()
    # This environment's server runs with the test machine's Python, which systemd-unit refuses
    # when it lives under /root or /home (test_systemd_unit checks that); a shell wrapper stands
    # in for the skill's install, whose Python uv keeps in /opt.
    server = tmp_path / "bin" / "agent-relay-server"
    server.parent.mkdir()
    server.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m relay_server "$@"\n')
    server.chmod(0o755)
    path = {**os.environ, "PATH": f"{server.parent}{os.pathsep}{os.environ['PATH']}"}
    outputs = {}
    for command in skilldocs.skill_commands(SKILLS["setup-relay-server"], "agent-relay-server"):
        argv = [arg.replace("/var/lib/agent-relay", str(state)) for arg in command.argv]
        argv = [arg.replace("CLIENT_ID", "carol-e2e") for arg in argv]
        result = subprocess.run(
            [server, *argv], capture_output=True, text=True, check=False, env=path
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        outputs[argv[0]] = result.stdout
    assert {"init", "systemd-unit"} <= set(outputs)
    token = re.search(r"^\s{4}(\S+)$", outputs["init"], re.MULTILINE)
    assert token, outputs["init"]

    [exec_start] = [
        line.removeprefix("ExecStart=").replace("/var/lib/agent-relay", str(state))
        for line in outputs["systemd-unit"].splitlines()
        if line.startswith("ExecStart=")
    ]
    # The unit's command reads the config init wrote; only where to listen differs here.
    port = free_port()
    env = {**os.environ, "RELAY_HOST": "127.0.0.1", "RELAY_PORT": str(port)}
    env.pop("RELAY_CONFIG", None)
    log = (tmp_path / "relay.log").open("wb")
    process = subprocess.Popen(shlex.split(exec_start), env=env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, process)
        headers = {"Authorization": f"Bearer {token.group(1)}", "X-Client-Id": "carol-e2e"}
        whoami = requests.get(f"{url}/api/v1/whoami", headers=headers, timeout=5)
        assert whoami.status_code == 200, whoami.text
        refused = requests.get(f"{url}/api/v1/whoami", headers={"X-Client-Id": "x"}, timeout=5)
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        log.close()

"""`agent-relay` imports only what the chosen command needs (docs/performance.md, figure 10).

Skills run the command for every action, so an eager import anywhere on the way to a command is
paid every time. Each check runs the command in a fresh interpreter and lists the modules it
loaded: timings are the bench's business, but a module that should not be there is a fact.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import relay_client

HEAVY = (
    "requests",
    "urllib3",
    "pydantic",
    "toon_format",
    "platformdirs",
    "tomli_w",
    "relay_client.api",
    "relay_client.config",
    "relay_core.models",
)
"""What ``--version`` must not load: the HTTP client, the models, the state files' libraries."""

OTHER_COMMANDS = (
    "relay_client.claude",
    "relay_client.cli.files",
    "relay_client.cli.health",
    "relay_client.cli.peers",
    "relay_client.cli.sessions",
    "relay_client.cli.config_view",
    "relay_client.cli.connect",
    "relay_client.cli.setup",
    "relay_client.cli.tasks",
)
"""The modules of commands other than ``send`` and ``tail``, and what only they use."""


def modules_loaded_by(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh ``agent-relay ARGS`` had loaded when it exited."""
    program = f"""
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
from relay_client.cli import main
sys.argv = ["agent-relay", *{list(args)!r}]
main()
"""
    finished = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert finished.returncode == 0, finished.stderr
    return set(json.loads(finished.stderr.splitlines()[-1]))


def test_version_loads_no_http_client_no_models_and_no_state_files():
    loaded = modules_loaded_by("--version")
    assert loaded & set(HEAVY) == set()


def test_send_loads_no_other_commands_module():
    loaded = modules_loaded_by("send", "--help")
    assert "relay_client.cli.messages" in loaded
    assert loaded & set(OTHER_COMMANDS) == set()


def test_send_to_an_http_relay_loads_neither_requests_nor_pydantic_nor_the_models(
    configured_loopback, loopback_relay, payloads
):
    loopback_relay.add("POST", "/api/v1/sessions/build-42/messages", 201, payloads.sent(3))
    environment = {**os.environ, "CLAUDE_USER_DATA": os.environ["CLAUDE_USER_DATA"]}
    loaded = modules_loaded_by("send", "build-42", "hi", env=environment)
    assert len(loopback_relay.calls) == 1  # it did send
    assert (
        loaded & {"requests", "urllib3", "pydantic", "relay_client.api", "relay_core.models"}
        == set()
    )
    assert loaded & set(OTHER_COMMANDS) == set()


def test_the_version_shown_is_the_installed_packages_version():
    assert relay_client.__version__ == importlib.metadata.version("relay-client")

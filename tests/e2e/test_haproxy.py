"""Two relay replicas on one PostgreSQL behind HAProxy, configured by the shipped example
(docs/examples/haproxy.cfg with its ports replaced by free ones): an MCP session stays on the
replica that made it (its tool calls and its GET stream), while plain HTTP sends spread over
both, and every send reaches the session live, wherever it was stored.

HAProxy is Debian's (``apt-get install haproxy``; ``.ci/run`` installs it): under ``CI=true``
the test fails without it, elsewhere it skips and says why.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import requests

from tests.conftest import free_port
from tests.server.test_push import ChannelInbox, live_client

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "haproxy.cfg"
PORTS = ("127.0.0.1:8000", "127.0.0.1:8001", "127.0.0.1:8002")
"""The proxy's and the two replicas' addresses as the example writes them."""


class Proxy:
    """An HAProxy process on a free port, in front of ``replicas``."""

    def __init__(self, replicas: list, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mcp_url = self.url + "/mcp"
        self.token = replicas[0].token
        self.headers = replicas[0].headers
        config = EXAMPLE.read_text()
        for example, real in zip(PORTS, [self.url, *(r.url for r in replicas)], strict=True):
            assert example in config
            config = config.replace(example, real.removeprefix("http://"))
        config = config.replace("relay.example.lan", "127.0.0.1")  # the replicas' own host
        self.config = work / "haproxy.cfg"
        self.config.write_text(config)
        self.log = work / "haproxy.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(self.config)], stdout=log, stderr=log
            )

    def wait_until_both_replicas_are_up(self) -> None:
        """Until a request through the proxy reaches each replica (health checks passed)."""
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                answers = [requests.get(self.url + "/healthz", timeout=2) for _ in range(4)]
                if all(a.ok for a in answers):
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def proxy(start_relay, postgres_url, require_tool, tmp_path) -> Iterator[tuple[Proxy, list]]:
    require_tool(
        shutil.which("haproxy") is not None,
        "HAProxy is not installed (apt-get install -y haproxy)",
    )
    replicas = [start_relay(database_url=postgres_url) for _ in range(2)]
    running = Proxy(replicas, tmp_path)
    try:
        running.wait_until_both_replicas_are_up()
        yield running, replicas
    finally:
        running.stop()


def post(proxy: Proxy, sender: str, path: str, body: dict) -> dict:
    answer = requests.post(proxy.url + path, headers=proxy.headers(sender), json=body, timeout=10)
    assert answer.status_code in {200, 201}, answer.text
    return dict(answer.json())


def test_the_example_config_is_valid_haproxy(require_tool) -> None:
    require_tool(shutil.which("haproxy") is not None, "HAProxy is not installed")
    checked = subprocess.run(["haproxy", "-c", "-f", str(EXAMPLE)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.anyio
async def test_an_mcp_session_and_http_sends_work_through_haproxy(proxy) -> None:
    through, replicas = proxy
    post(through, "alpha", "/api/v1/sessions", {"name": "proxied", "participants": ["beta"]})
    inbox = ChannelInbox()
    async with live_client(through, "beta", inbox) as beta:
        await beta.call_tool("whoami", {})  # the GET stream is open once a request went through
        with anyio.fail_after(10):
            while sum(r.listeners() for r in replicas) < 1:
                await anyio.sleep(0.01)
        sent = [
            (
                await anyio.to_thread.run_sync(
                    post, through, "alpha", "/api/v1/sessions/proxied/messages", {"text": f"m{i}"}
                )
            )["id"]
            for i in range(6)
        ]
        events = await inbox.wait_for(6)
        waited = await beta.call_tool(
            "wait_for_messages", {"session": "proxied", "after_id": 0, "timeout_s": 5}
        )
    assert [int(e.meta["message_id"]) for e in events] == sent
    assert "m5" in str(waited)
    sends = r'via=http client=alpha op="POST /api/v1/sessions/\{name\}/messages"'
    assert all(r.access_line(sends, within_s=5) for r in replicas)  # both stored some

    def served(relay, tool: str) -> bool:
        return relay.access_line(f"via=mcp client=beta op={tool}", within_s=1) is not None

    # the session's tool calls all went to the one replica that holds it
    holders = [[served(r, tool) for tool in ("whoami", "wait_for_messages")] for r in replicas]
    assert sorted(holders) == [[False, False], [True, True]]

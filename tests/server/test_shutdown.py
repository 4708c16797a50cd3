"""Stopping the relay (SIGTERM) while clients are parked in long-polls.

Every waiter gets a clean answer it can retry: JSON ``unavailable`` (503) over HTTP, an
``unavailable`` tool error over MCP (both protocol eras), well within uvicorn's grace period,
and the log holds no traceback.
"""

from __future__ import annotations

import signal
import threading
import time

import anyio
import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

pytestmark = pytest.mark.relay_process  # SIGTERM to the `serve` process

WAITS_LOGGED_S = 20.0


def wait_for_log(relay, text: str, count: int) -> None:
    """Until the relay's log holds ``text`` ``count`` times (a bounded wait on the file)."""
    deadline = time.monotonic() + WAITS_LOGGED_S
    while relay.log().count(text) < count:
        assert time.monotonic() < deadline, relay.log()[-3000:]
        time.sleep(0.02)


def test_sigterm_answers_every_parked_waiter_with_unavailable(start_relay):
    relay = start_relay(log_level="debug")
    answers: dict[str, object] = {}

    def http_wait() -> None:
        answer = requests.get(
            relay.url + "/api/v1/wait",
            params={"timeout": 60},
            headers=relay.headers("alpha"),
            timeout=30,
        )
        answers["http"] = answer

    async def mcp_wait(client_id: str, mode: str) -> None:
        transport = StreamableHttpTransport(
            relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
        )
        async with Client(transport, mode=mode, timeout=30) as client:
            result = await client.call_tool(
                "wait_for_messages", {"timeout_s": 60}, raise_on_error=False
            )
            answers[mode] = result

    waiters = [
        threading.Thread(target=http_wait),
        threading.Thread(target=anyio.run, args=(mcp_wait, "beta", "legacy")),
        threading.Thread(target=anyio.run, args=(mcp_wait, "gamma", "auto")),
    ]
    for waiter in waiters:
        waiter.start()
    wait_for_log(relay, "waits up to 60s", 3)

    stopped = time.monotonic()
    relay.process.send_signal(signal.SIGTERM)
    relay.process.wait(timeout=30)
    took = time.monotonic() - stopped
    for waiter in waiters:
        waiter.join(timeout=30)

    http = answers["http"]
    assert http.status_code == 503, http.text
    assert http.headers["content-type"] == "application/json"
    assert http.json()["error"]["code"] == "unavailable"
    for mode in ("legacy", "auto"):  # pinned handshake era, and whatever auto negotiates
        result = answers[mode]
        assert result.is_error, (mode, result)
        assert result.content[0].text.startswith("unavailable: "), (mode, result)
    assert took < 4.0  # answered, not cut off when uvicorn's 5 s grace period ran out
    log = relay.log()
    assert "Traceback" not in log, log[-3000:]
    assert "Exception in ASGI application" not in log

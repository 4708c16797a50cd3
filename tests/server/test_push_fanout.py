"""Push fan-out: a send's server-side work does not grow with the sessions its recipients hold.

These tests serve a relay built in this process (real uvicorn on a free loopback port, real
HTTP, real MCP clients) so they can count what the relay did for a send: how often it read the
store for push (``RelayService.poll``) and how many notifications it handed to connections.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
import requests
import uvicorn

from relay_core import CreateSessionRequest, Message, SendMessageRequest
from relay_server.app import Relay, build_relay
from relay_server.config import ServerConfig
from relay_server.events import EventHub, Posted
from tests.conftest import TOKEN, free_port
from tests.server.test_push import ChannelInbox, live_client

pytestmark = pytest.mark.anyio

LINGERING = 20
MCP_VERSION = "2025-11-25"


@dataclass
class Served:
    """A relay built in this process and served on 127.0.0.1."""

    relay: Relay
    url: str
    polls: list[str]

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp"

    @property
    def token(self) -> str:
        return TOKEN

    def headers(self, client_id: str) -> dict[str, str]:
        return {"X-Client-Id": client_id, "Authorization": f"Bearer {TOKEN}"}


@contextmanager
def serve(tmp_path, **settings: Any) -> Iterator[Served]:
    relay = build_relay(ServerConfig(data_dir=tmp_path / "data", token=TOKEN, **settings))
    polls: list[str] = []
    poll = relay.service.poll

    def counted_poll(caller: str, *args: Any) -> Any:
        polls.append(caller)
        return poll(caller, *args)

    relay.service.poll = counted_poll  # type: ignore[method-assign]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(relay.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the relay stopped at start"
        assert time.monotonic() < deadline, "the relay did not start in 30 s"
        time.sleep(0.02)
    try:
        yield Served(relay, url, polls)
    finally:
        server.should_exit = True
        thread.join(15)


class RawSession:
    """An MCP session on the handshake era over plain HTTP, as a lean client holds one."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.http = requests.Session()
        self.headers = {**headers, "Accept": "application/json, text/event-stream"}
        answer = self.post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": MCP_VERSION,
                    "capabilities": {"experimental": {"claude/channel": {}}},
                    "clientInfo": {"name": "raw", "version": "1"},
                },
            }
        )
        assert answer.status_code == 200, answer.text
        self.session_id = answer.headers["mcp-session-id"]
        self.headers |= {"Mcp-Session-Id": self.session_id, "MCP-Protocol-Version": MCP_VERSION}
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).ok

    def post(self, body: dict[str, Any]) -> requests.Response:
        return self.http.post(self.url, headers=self.headers, json=body, timeout=10)

    def whoami(self) -> int:
        """Call a tool; the HTTP status (404 once the relay closed the session)."""
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call"}
        answer = self.post({**body, "params": {"name": "whoami", "arguments": {}}})
        return answer.status_code

    def open_stream(self) -> requests.Response:
        """Open the session's standalone GET stream (the caller closes it)."""
        headers = {**self.headers, "Accept": "text/event-stream"}
        stream = self.http.get(self.url, headers=headers, stream=True, timeout=10)
        assert stream.status_code == 200, stream.text
        return stream

    def leave(self) -> None:
        """Go away without a DELETE, like a client that crashed."""
        self.http.close()


def post(served: Served, sender: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(served.url + path, headers=served.headers(sender), json=body, timeout=10)
    assert answer.status_code in {200, 201}, answer.text
    return answer.json()


def leave_sessions_behind(served: Served, client_id: str, count: int) -> None:
    for _ in range(count):
        left = RawSession(served.mcp_url, served.headers(client_id))
        assert left.whoami() == 200  # a request through the tools: push attaches here
        left.leave()


async def test_a_send_reads_nothing_for_push_however_many_sessions_its_recipients_left(
    tmp_path,
):
    with serve(tmp_path, mcp_sessions_per_client=64) as served:
        post(served, "alpha", "/api/v1/sessions", {"name": "team", "participants": ["b", "c"]})
        inbox = ChannelInbox()
        async with live_client(served, "b", inbox) as live:
            await live.call_tool("whoami", {})

            push = served.relay.push

            async def send_five(first: int) -> tuple[int, int, int]:
                before = len(served.polls), push.offered, push.pushed
                for i in range(5):
                    await anyio.to_thread.run_sync(
                        post, served, "alpha", "/api/v1/sessions/team/messages", {"text": str(i)}
                    )
                await inbox.wait_for(first + 5)
                after = len(served.polls), push.offered, push.pushed
                return after[0] - before[0], after[1] - before[1], after[2] - before[2]

            without = await send_five(0)
            for client in ("b", "c"):
                await anyio.to_thread.run_sync(leave_sessions_behind, served, client, LINGERING)
            with_lingering = await send_five(5)
    # No store read and no thread hop for push; a message reaches only the one connection that
    # listens, and is sent there once: the same with 0 and 20 left-behind sessions a recipient.
    assert without == with_lingering == (0, 5, 5)


async def test_concurrent_sends_reach_a_live_connection_once_each_in_id_order(tmp_path):
    with serve(tmp_path) as served:
        senders = [f"s{i}" for i in range(4)]
        post(served, "b", "/api/v1/sessions", {"name": "busy", "participants": senders})
        inbox = ChannelInbox()
        async with live_client(served, "b", inbox) as live:
            await live.call_tool("whoami", {})

            def burst(sender: str) -> None:
                for i in range(10):
                    post(served, sender, "/api/v1/sessions/busy/messages", {"text": f"{i}"})

            def all_bursts() -> None:
                with ThreadPoolExecutor(len(senders)) as pool:
                    list(pool.map(burst, senders))

            await anyio.to_thread.run_sync(all_bursts)
            events = await inbox.wait_for(40)
            await anyio.sleep(0.2)  # a duplicate would arrive right behind
    ids = [int(e.meta["message_id"]) for e in events]
    assert len(ids) == 40
    assert ids == sorted(set(ids))
    assert served.polls == []


async def test_an_event_without_its_message_is_filled_in_from_the_store(tmp_path):
    with serve(tmp_path) as served:
        post(served, "alpha", "/api/v1/sessions", {"name": "gap", "participants": ["b"]})
        inbox = ChannelInbox()
        async with live_client(served, "b", inbox) as live:
            await live.call_tool("whoami", {})
            first = post(served, "alpha", "/api/v1/sessions/gap/messages", {"text": "one"})
            await inbox.wait_for(1)
            # A wake-up that cannot carry the message (another replica's notice, say): store
            # the message without waking anyone, then announce it bare.
            hub = served.relay.service.hub
            served.relay.service.hub = EventHub()
            try:
                second = post(served, "alpha", "/api/v1/sessions/gap/messages", {"text": "two"})
            finally:
                served.relay.service.hub = hub
            hub.publish(Posted(second["id"], "gap", "alpha", frozenset({"b"})))
            events = await inbox.wait_for(2)
    assert [e.content for e in events] == ["one", "two"]
    assert [int(e.meta["message_id"]) for e in events] == [first["id"], second["id"]]
    assert served.polls == ["b"]


async def test_events_are_delivered_in_publication_order_from_any_thread():
    hub = EventHub()
    hub.attach(asyncio.get_running_loop())
    seen: list[int] = []
    done = anyio.Event()

    def listener(event: Posted) -> None:
        seen.append(event.message_id)
        if len(seen) == 2:
            done.set()

    hub.subscribe(["b"], listener)
    # One from a worker thread (queued on the loop), then one from the loop thread itself:
    # the second must not overtake the first.
    await anyio.to_thread.run_sync(hub.publish, Posted(1, "s", "a", frozenset({"b"})))
    hub.publish(Posted(2, "s", "a", frozenset({"b"})))
    with anyio.fail_after(5):
        await done.wait()
    assert seen == [1, 2]


async def test_a_transaction_that_fails_publishes_nothing():
    hub = EventHub()
    hub.attach(asyncio.get_running_loop())
    seen: list[Posted] = []
    hub.subscribe(["b"], seen.append)

    def rolled_back() -> None:
        with hub.after_commit() as publish:
            publish(Posted(1, "s", "a", frozenset({"b"})))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    with hub.after_commit() as publish:
        publish(Posted(2, "s", "a", frozenset({"b"})))
    await anyio.sleep(0)
    assert [e.message_id for e in seen] == [2]


def test_the_event_of_a_send_carries_the_message_as_readers_see_it(tmp_path):
    relay = build_relay(ServerConfig(data_dir=tmp_path / "data", token=TOKEN))
    service, hub = relay.service, relay.hub
    published: list[Posted] = []
    hub.publish = published.append  # type: ignore[method-assign]
    service.create_session("alpha", CreateSessionRequest(name="m", participants=["b", "c"]))
    sent = service.post_message("alpha", "m", SendMessageRequest(text="hi", to=["c", "b"]))
    (event,) = published
    stored = service.get_message("b", sent.id)
    assert isinstance(event.message, Message)
    assert event.message == stored
    assert event.recipients == {"b", "c"}

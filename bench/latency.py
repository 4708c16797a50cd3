"""Figure 3: send-to-receive latency, against a bare loopback HTTP round trip.

For each delivery path a receiver waits, a sender sends one message over the HTTP API, and the
latency is the time from the sender starting its request to the receiver holding the message.
That span necessarily contains one HTTP round trip (the send), so the baseline is one bare round
trip to the baseline server (``GET /api/v1/ping``, same stack, same client), and the target is
the relay's p50 within 2 ms of the baseline's p50. Messages go one at a time.

- channel push: an MCP session (2025-11-25 handshake, ``claude/channel`` capability) with its
  standalone GET stream open, as Claude Code keeps it; the message arrives as a
  ``notifications/claude/channel`` event on that stream.
- MCP long-poll: the tool ``wait_for_messages(session, after_id)``, parked before the send.
- HTTP long-poll: ``GET /api/v1/sessions/{name}/messages?after=N&wait=30``, parked before the send
  (what ``agent-relay tail --follow`` does).

"Parked" means the wait was sent ``PARK_S`` before the message; a wait that had not reached the
relay by then finds the message on its first read, which is still a send-to-receive time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from bench.baseline import PING_PATH
from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import Scale
from bench.seed import SEND_TEXT, create_session
from bench.stats import Latencies
from bench.wire import EventStream, HttpConnection, McpSession, WireError, tool_text
from relay_core.toon import decode_messages
from relay_core.wire import session_messages_path

T = TypeVar("T")

TARGET_MS: Final = 2.0
PARK_S: Final = 0.003
WARMUP_MESSAGES: Final = 10
RECEIVE_TIMEOUT_S: Final = 10.0
CHANNEL_METHOD: Final = "notifications/claude/channel"
SENDER: Final = "lat-sender"
ATTACH_ATTEMPTS: Final = 10
ATTACH_WAIT_S: Final = 1.0

Receive = Callable[[int], Awaitable[int]]
"""Waits for the first message after the given id and returns its id."""


async def _finished_at(waiting: Awaitable[T]) -> tuple[T, float]:
    result = await waiting
    return result, time.perf_counter()


class Sender:
    """Sends one message at a time over the HTTP API on a kept-alive connection.

    With a connection to the baseline server it also times one bare round trip before each
    message, so the baseline is measured interleaved with the figure, under the same noise.
    """

    def __init__(
        self, connection: HttpConnection, session: str, baseline: HttpConnection | None = None
    ) -> None:
        self.connection = connection
        self.baseline = baseline
        self.path = session_messages_path(session)
        self.headers = {**identity(SENDER), "Content-Type": "application/json"}
        self.body = json.dumps({"text": SEND_TEXT}).encode()

    async def send(self) -> int:
        """Send; returns the message id."""
        answer = await self.connection.request("POST", self.path, self.headers, self.body)
        if answer.status != 201:
            raise WireError(f"send: HTTP {answer.status} {answer.body[:200]!r}")
        return int(answer.json()["id"])

    async def round_trip(self) -> float | None:
        """Seconds for one ``GET /api/v1/ping`` to the baseline (None without a baseline)."""
        if self.baseline is None:
            return None
        started = time.perf_counter()
        answer = await self.baseline.request("GET", PING_PATH, identity("rtt"))
        if answer.status != 200:
            raise WireError(f"ping: HTTP {answer.status}")
        return time.perf_counter() - started


@dataclass(frozen=True)
class Delivery:
    """Send-to-receive times, the sends' own times, and the interleaved bare round trips."""

    latency: Latencies
    send: Latencies
    round_trip: Latencies


async def measure(sender: Sender, receive: Receive, count: int, park_s: float) -> Delivery:
    """Send ``count`` messages (after a warm-up) and time each one to its receiver."""
    samples, send_times, round_trips = [], [], []
    last = await sender.send()
    for i in range(WARMUP_MESSAGES + count):
        round_trip = await sender.round_trip()
        waiting = asyncio.create_task(_finished_at(receive(last)))
        try:
            if park_s:
                await asyncio.sleep(park_s)
            started = time.perf_counter()
            sent = await sender.send()
            sent_at = time.perf_counter()
            async with asyncio.timeout(RECEIVE_TIMEOUT_S):
                received, arrived = await waiting
        finally:
            waiting.cancel()
        if received != sent:
            raise WireError(f"sent message {sent} but received {received}")
        if i >= WARMUP_MESSAGES:
            samples.append(arrived - started)
            send_times.append(sent_at - started)
            if round_trip is not None:
                round_trips.append(round_trip)
        last = sent
    return Delivery(
        Latencies(tuple(samples)), Latencies(tuple(send_times)), Latencies(tuple(round_trips))
    )


async def http_long_poll(relay: Server, sender: Sender, session: str, count: int) -> Delivery:
    """HTTP long-poll: GET .../messages?after=N&wait=30, parked before each send."""
    connection = await HttpConnection.open(relay.port)
    headers = identity(f"{session}-recv")
    path = session_messages_path(session)

    async def receive(after: int) -> int:
        answer = await connection.request("GET", f"{path}?after={after}&wait=30&limit=1", headers)
        messages = answer.json()["messages"] if answer.status == 200 else []
        if not messages:
            raise WireError(f"long-poll: HTTP {answer.status} {answer.body[:200]!r}")
        return int(messages[0]["id"])

    try:
        return await measure(sender, receive, count, PARK_S)
    finally:
        await connection.close()


async def mcp_long_poll(relay: Server, sender: Sender, session: str, count: int) -> Delivery:
    """MCP long-poll: the wait_for_messages tool, parked before each send."""
    mcp = await McpSession.open(relay.port, identity(f"{session}-recv"))

    async def receive(after: int) -> int:
        arguments = {"session": session, "after_id": after, "timeout_s": 30}
        text = tool_text(await mcp.call("wait_for_messages", arguments))
        messages = decode_messages(text)
        if not messages:
            raise WireError(f"wait_for_messages returned nothing: {text[:200]!r}")
        return messages[0].id

    try:
        return await measure(sender, receive, count, PARK_S)
    finally:
        await mcp.close()


async def channel_push(relay: Server, sender: Sender, session: str, count: int) -> Delivery:
    """Channel push: notifications on the MCP session's standalone GET stream."""
    mcp = await McpSession.open(relay.port, identity(f"{session}-recv"))
    stream = await EventStream.open(relay.port, mcp)

    async def receive(after: int) -> int:
        while True:
            message = await stream.next_message()
            if message.get("method") == CHANNEL_METHOD:
                message_id = int(message["params"]["meta"]["message_id"])
                if message_id > after:
                    return message_id

    try:
        await _until_pushed(mcp, sender, receive)
        return await measure(sender, receive, count, 0)
    finally:
        await stream.close()
        await mcp.close()


async def _until_pushed(mcp: McpSession, sender: Sender, receive: Receive) -> None:
    """Make a request so the relay attaches its push pump, until a probe message arrives.

    The pump starts on the first request after the GET stream is open and pushes what comes
    after the newest message it saw at its start, so a probe sent too early is never pushed.
    """
    for _ in range(ATTACH_ATTEMPTS):
        await mcp.call("whoami", {})
        last = await sender.send()
        try:
            async with asyncio.timeout(ATTACH_WAIT_S):
                await receive(last - 1)
            return
        except TimeoutError:
            continue
    raise WireError(f"no channel event arrived after {ATTACH_ATTEMPTS} probes")


async def latency_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 3: p50/p99 send-to-receive for push, MCP long-poll and HTTP long-poll."""
    baseline, relay = pool.baseline(), pool.shared_relay()
    paths = {
        "channel push": channel_push,
        "MCP long-poll": mcp_long_poll,
        "HTTP long-poll": http_long_poll,
    }
    rows = []
    for index, (case, run) in enumerate(paths.items()):
        session = f"lat-{index}"
        await create_session(relay, SENDER, session, [f"{session}-recv"])
        connection = await HttpConnection.open(relay.port)
        pinging = await HttpConnection.open(baseline.port)
        try:
            sender = Sender(connection, session, pinging)
            delivery = await run(relay, sender, session, scale.latency_messages)
        finally:
            await connection.close()
            await pinging.close()
        latency, rtt = delivery.latency, delivery.round_trip
        over = latency.p50_ms - rtt.p50_ms
        rows.append(
            Row(
                figure="3 send-to-receive p50",
                case=case,
                value=latency.p50_ms,
                unit="ms",
                baseline=rtt.p50_ms,
                baseline_name="HTTP round trip",
                ratio=latency.p50_ms / rtt.p50_ms,
                target=f"p50 <= base + {TARGET_MS:g} ms",
                passed=over <= TARGET_MS,
                note=f"p50 +{over:.2f} ms over the round trip; p99 {latency.p99_ms:.2f} ms "
                f"(round trip p99 {rtt.p99_ms:.2f} ms); the send alone: p50 "
                f"{delivery.send.p50_ms:.2f} ms",
                details={
                    "latency": latency.summary(),
                    "round_trip": rtt.summary(),
                    "send": delivery.send.summary(),
                },
            )
        )
    return rows

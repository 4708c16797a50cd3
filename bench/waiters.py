"""Figure 7: parked waiters must not slow down the clients that work.

``scale.waiters`` clients (500) each wait for messages in a quiet "lobby" session (two lobbies,
since a session holds at most 256 participants), while one other client sends MCP
``send_message`` calls as fast as it can in its own session. The figure is the sender's calls/s
with the waiters parked, divided by its calls/s with nobody waiting, measured on the same relay
in the same run (alternately, ``scale.rounds`` times; the ratio is the median of each round's
own ratio). Target: >= 0.8.

The waiters are measured twice, as:

- MCP: 500 MCP sessions (handshake, then a ``wait_for_messages`` call each, answered over a
  held-open event stream), which is what 500 idle agents cost the relay;
- HTTP: 500 ``GET .../messages?after=N&wait=300`` long-polls, what 500 ``agent-relay tail
  --follow`` processes cost.

Both are realistic on two cores because a parked waiter costs the relay no thread and no CPU,
only memory and a socket; holding 500 clients on the bench side is cheap for the same reason
(one asyncio task and one socket each). Waiters count as parked once the relay's CPU use
drops to idle after they were sent; they are woken (a message to the lobbies) and re-parked
between rounds. The waiters and the sender are different clients in different sessions, so a
send wakes no waiter: this measures the cost of parked waiters, not of a fan-out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final

from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import Scale
from bench.seed import create_session, send
from bench.stats import Load, drive, median, paired_ratio, until_quiet
from bench.throughput import mcp_send, mcp_senders
from bench.wire import HttpConnection, McpSession, WireError
from relay_core.wire import MAX_PARTICIPANTS, MAX_WAIT_S, session_messages_path

TARGET: Final = 0.8
HOST: Final = "wait-host"
FIGURE: Final = "7 send with waiters"
CONNECT_BATCH: Final = 25

Park = Callable[[int], Coroutine[Any, Any, None]]
"""Waits in the lobby for a message after the given id."""


LOBBY_SIZE: Final = 250
"""Waiters per lobby: a session holds at most 256 participants, the host among them."""
assert LOBBY_SIZE < MAX_PARTICIPANTS


def lobby_of(index: int) -> str:
    """The lobby session of waiter ``index``."""
    return f"lobby-{index // LOBBY_SIZE}"


async def make_lobbies(relay: Server, count: int) -> dict[str, int]:
    """Lobby sessions holding waiters ``waiter-0``...; returns each lobby's newest message id."""
    members: dict[str, list[str]] = {}
    for i in range(count):
        members.setdefault(lobby_of(i), []).append(f"waiter-{i}")
    for lobby, clients in members.items():
        await create_session(relay, HOST, lobby, clients)
    return {lobby: 0 for lobby in members}


async def mcp_waiters(relay: Server, count: int) -> tuple[list[Park], list[McpSession]]:
    """One MCP session per waiter, handshake done."""
    sessions: list[McpSession] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = range(start, min(start + CONNECT_BATCH, count))
        sessions += await asyncio.gather(
            *(McpSession.open(relay.port, identity(f"waiter-{i}")) for i in batch)
        )
    parks: list[Park] = []
    for i, session in enumerate(sessions):
        lobby = lobby_of(i)

        async def park(after: int, session: McpSession = session, lobby: str = lobby) -> None:
            arguments = {"session": lobby, "after_id": after, "timeout_s": MAX_WAIT_S}
            await session.call("wait_for_messages", arguments)

        parks.append(park)
    return parks, sessions


async def http_waiters(relay: Server, count: int) -> tuple[list[Park], list[HttpConnection]]:
    """One kept-alive HTTP connection per waiter."""
    connections: list[HttpConnection] = []
    parks: list[Park] = []
    for i in range(count):
        connection = await HttpConnection.open(relay.port)
        path = session_messages_path(lobby_of(i))
        headers = identity(f"waiter-{i}")

        async def park(
            after: int,
            connection: HttpConnection = connection,
            path: str = path,
            headers: dict[str, str] = headers,
        ) -> None:
            answer = await connection.request(
                "GET", f"{path}?after={after}&wait={MAX_WAIT_S:g}", headers
            )
            if answer.status != 200 or not json.loads(answer.body)["messages"]:
                raise WireError(f"long-poll: HTTP {answer.status} {answer.body[:200]!r}")

        connections.append(connection)
        parks.append(park)
    return parks, connections


async def with_parked(
    relay: Server,
    parks: Sequence[Park],
    lobbies: dict[str, int],
    measure: Callable[[], Awaitable[Load]],
) -> Load:
    """Park every waiter, run ``measure``, then wake them all and wait for their answers."""
    after = max(lobbies.values())
    parked = [asyncio.create_task(park(after)) for park in parks]
    try:
        await until_quiet(relay)
        if any(task.done() for task in parked):  # one returned early: it failed
            next(task for task in parked if task.done()).result()
            raise WireError("a waiter returned before it was woken")
        load = await measure()
        for lobby in lobbies:
            lobbies[lobby] = await send(relay, HOST, lobby, "wake up")
        async with asyncio.timeout(30):
            await asyncio.gather(*parked)
        return load
    finally:
        for task in parked:
            task.cancel()
        await asyncio.gather(*parked, return_exceptions=True)


async def waiters_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 7: sender calls/s with parked waiters vs without."""
    relay = pool.relay("waiters")
    closers: list[McpSession | HttpConnection] = []
    try:
        lobbies = await make_lobbies(relay, scale.waiters)
        sender = (await mcp_senders(relay, 1, "wait-send"))[0]
        closers.append(sender)
        operation = [mcp_send(sender, "wait-send-0")]
        mcp_parks, mcp_sessions = await mcp_waiters(relay, scale.waiters)
        http_parks, http_connections = await http_waiters(relay, scale.waiters)
        closers += [*mcp_sessions, *http_connections]
        alone: list[Load] = []
        parked: dict[str, list[Load]] = {"MCP": [], "HTTP": []}
        for _ in range(scale.rounds):
            await until_quiet(relay)
            alone.append(await drive(operation, relay, scale.seconds, scale.warmup_s))
            for kind, parks in (("MCP", mcp_parks), ("HTTP", http_parks)):
                parked[kind].append(
                    await with_parked(
                        relay,
                        parks,
                        lobbies,
                        lambda: drive(operation, relay, scale.seconds, scale.warmup_s),
                    )
                )
    finally:
        for closer in closers:
            await closer.close()
        pool.stop(relay)
    base = median([load.rate for load in alone])
    rows = []
    for kind, loads in parked.items():
        value = median([load.rate for load in loads])
        result = paired_ratio(alone, loads)
        rows.append(
            Row(
                figure=FIGURE,
                case=f"{scale.waiters} {kind} waiters",
                value=value,
                unit="calls/s",
                baseline=base,
                baseline_name="no waiters",
                ratio=result,
                target=f">= {TARGET:g}x",
                passed=result >= TARGET,
                details={
                    "rounds": [load.summary() for load in loads],
                    "baseline_rounds": [load.summary() for load in alone],
                },
            )
        )
    return rows

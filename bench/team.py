"""Figure 9: the team case, where sends have recipients with MCP connections of their own.

The throughput figures send into sessions whose reader never connected; a team does not work
like that. Three pairs, each measured on one relay of its own, baseline and subject back to back:

1. Eight MCP senders in one shared eight-member session, against the same senders each in a
   session of its own. Every sender's MCP session is also a recipient's connection.
2. The same, after every member opened ``LINGERING`` more MCP sessions and left them without a
   DELETE (a Claude Code that crashed or whose laptop slept), then connected afresh.
3. One MCP sender into a session whose eight recipients hold live push streams (the 2025-11-25
   handshake with the ``claude/channel`` capability and the standalone GET stream open, as Claude
   Code keeps it; every event is read), against the same sender into a session whose eight
   recipients never connected. The second row of this pair is the server CPU one pushed
   notification costs: the difference in server CPU per send, divided by the recipients.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Final

from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import Scale
from bench.seed import create_session
from bench.stats import median
from bench.throughput import compare, mcp_send, throughput_row
from bench.wire import EventStream, McpSession, WireError

FIGURE: Final = "9 team"
MEMBERS: Final = 8
LINGERING: Final = 20
SHARED_TARGET: Final = 0.9
LIVE_TARGET: Final = 0.7
PUSH_CPU_TARGET_MS: Final = 0.3
CHANNEL_METHOD: Final = "notifications/claude/channel"
ATTACH_TIMEOUT_S: Final = 10.0


async def open_senders(relay: Server, members: list[str]) -> list[McpSession]:
    """One MCP session per member (the member's own Claude Code)."""
    return [await McpSession.open(relay.port, identity(member)) for member in members]


async def shared_session_rows(scale: Scale, relay: Server) -> list[Row]:
    """Pairs 1 and 2: a shared session against own sessions, then with sessions left behind.

    For pair 2 every member leaves ``LINGERING`` sessions behind and then connects afresh, as a
    Claude Code restarted after a crash does. The relay keeps at most ``mcp_sessions_per_client``
    (16 by default) per client, so with the default 15 of them stay open beside each sender.
    """
    members = [f"team-{i}" for i in range(MEMBERS)]
    for member in members:
        await create_session(relay, member, f"{member}-own", ["team-own-reader"])
    await create_session(relay, members[0], "team-shared", members[1:])
    rows = []
    senders = await open_senders(relay, members)
    try:
        own = [mcp_send(s, f"{m}-own") for s, m in zip(senders, members, strict=True)]
        shared = [mcp_send(s, "team-shared") for s in senders]
        loads = await compare(scale, (relay, own), (relay, shared))
        rows.append(
            throughput_row(
                FIGURE, "8 senders, one shared session", loads, "own sessions", SHARED_TARGET
            )
        )
    finally:
        for sender in senders:
            await sender.close()  # no DELETE: these stay behind too
    for member in members:
        for _ in range(LINGERING):
            left = await McpSession.open(relay.port, identity(member))
            await left.call("whoami", {})
            await left.close()  # no DELETE: the relay keeps the session until it idles out
    senders = await open_senders(relay, members)
    try:
        own = [mcp_send(s, f"{m}-own") for s, m in zip(senders, members, strict=True)]
        shared = [mcp_send(s, "team-shared") for s in senders]
        loads = await compare(scale, (relay, own), (relay, shared))
        rows.append(
            throughput_row(
                FIGURE,
                f"8 senders, one shared session, {LINGERING} sessions left behind per member",
                loads,
                "own sessions",
                SHARED_TARGET,
            )
        )
    finally:
        for sender in senders:
            await sender.close()
    return rows


class LiveRecipient:
    """A recipient as Claude Code holds it: an MCP session and its GET stream, read to the end."""

    def __init__(self, mcp: McpSession, stream: EventStream) -> None:
        self.mcp = mcp
        self.stream = stream
        self.pushed = 0
        self.first = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, relay: Server, client: str) -> LiveRecipient:
        mcp = await McpSession.open(relay.port, identity(client))
        stream = await EventStream.open(relay.port, mcp)
        recipient = cls(mcp, stream)
        await mcp.call("whoami", {})  # the relay attaches push on a request after the GET
        return recipient

    async def _read(self) -> None:
        with contextlib.suppress(WireError, OSError):
            while True:
                message = await self.stream.next_message()
                if message.get("method") == CHANNEL_METHOD:
                    self.pushed += 1
                    self.first.set()

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.stream.close()
        await self.mcp.close()


async def live_push_rows(scale: Scale, relay: Server) -> list[Row]:
    """Pair 3: one sender, eight recipients with live push streams against none connected."""
    sender_id = "team-solo"
    live_ids = [f"team-live-{i}" for i in range(MEMBERS)]
    quiet_ids = [f"team-quiet-{i}" for i in range(MEMBERS)]
    await create_session(relay, sender_id, "team-live", live_ids)
    await create_session(relay, sender_id, "team-quiet", quiet_ids)
    sender = await McpSession.open(relay.port, identity(sender_id))
    recipients = [await LiveRecipient.connect(relay, client) for client in live_ids]
    try:
        probe = mcp_send(sender, "team-live")
        await probe()
        async with asyncio.timeout(ATTACH_TIMEOUT_S):
            for recipient in recipients:
                await recipient.first.wait()
        loads = await compare(
            scale,
            (relay, [mcp_send(sender, "team-quiet")]),
            (relay, [mcp_send(sender, "team-live")]),
        )
        pushed = sum(r.pushed for r in recipients)
    finally:
        for recipient in recipients:
            await recipient.close()
        await sender.close()
    throughput = throughput_row(
        FIGURE, "1 sender, 8 recipients with live push streams", loads, "none live", LIVE_TARGET
    )
    quiet, live = loads
    per_push = median(
        [
            (s.server_cpu_ms_per_call - b.server_cpu_ms_per_call) / MEMBERS
            for b, s in zip(quiet, live, strict=True)
        ]
    )
    throughput.note = f"{pushed} channel events read by the 8 recipients"
    cpu = Row(
        figure=FIGURE,
        case="server CPU per pushed notification",
        value=per_push,
        unit="ms",
        target=f"<= {PUSH_CPU_TARGET_MS:g} ms",
        passed=not math.isnan(per_push) and per_push <= PUSH_CPU_TARGET_MS,
        note="(server CPU per send, 8 live recipients - none live) / 8",
    )
    return [throughput, cpu]


async def team_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 9: sends in a team, with lingering sessions and live push streams."""
    relay = pool.relay("team")
    try:
        rows = await shared_session_rows(scale, relay)
    finally:
        pool.stop(relay)
    relay = pool.relay("team-live")
    try:
        rows += await live_push_rows(scale, relay)
    finally:
        pool.stop(relay)
    return rows

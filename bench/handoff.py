"""Figure 11: a task hand-off's round trip, against three plain message round trips.

A hand-off round trip over the HTTP API: the giver hands a task off
(``POST /api/v1/sessions/{name}/tasks``) and parks ``GET /api/v1/tasks/{id}/wait?until=completed``;
the worker claims it and completes it; the time runs from the giver's first request to its wait
answering with the completed task. It makes three changes that each wake the other side, so the
baseline is three message round trips in the same run, interleaved with the hand-offs: a
receiver parks ``GET .../messages?after=N&wait=30``, the sender posts one message, and the time
runs until the receiver holds it; three of those in a row, summed.

The target (a hand-off at most twice three message round trips) allows for what a task change
does on top of a message: the task row, its history entry, the lease check, and the task read
back in the answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Final

from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import Scale
from bench.seed import create_session
from bench.stats import Latencies
from bench.wire import HttpConnection, WireError
from relay_core.tasks import task_path
from relay_core.wire import session_messages_path, session_path

TARGET_RATIO: Final = 2.0
WARMUP: Final = 3
GIVER: Final = "handoff-giver"
WORKER: Final = "handoff-worker"
SESSION: Final = "handoff-bench"
JSON: Final = {"Content-Type": "application/json"}


class Side:
    """One client of the figure on a kept-alive connection."""

    def __init__(self, connection: HttpConnection, client_id: str) -> None:
        self.connection = connection
        self.headers = {**identity(client_id), **JSON}

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        payload = None if body is None else json.dumps(body).encode()
        answer = await self.connection.request(method, path, self.headers, payload)
        if answer.status != expect:
            raise WireError(f"{method} {path}: HTTP {answer.status} {answer.body[:200]!r}")
        return answer.json()


async def handoff_round_trip(giver: Side, waiter: Side, worker: Side) -> tuple[float, int]:
    """Seconds from handing a task off to the giver's wait answering it completed, and the id
    of the message that announced the completion (the session's newest)."""
    started = time.perf_counter()
    task = await giver.call(
        "POST", session_path(SESSION) + "/tasks", {"title": "bench", "assignee": WORKER}, 201
    )
    wait_path = task_path(task["id"], "wait") + "?until=completed&timeout=30"
    waiting = asyncio.create_task(waiter.call("GET", wait_path))
    await worker.call("POST", task_path(task["id"], "claim"), {})
    await worker.call("PATCH", task_path(task["id"]), {"state": "completed"})
    waited = await asyncio.wait_for(waiting, 30)
    if waited["task"]["state"] != "completed":
        raise WireError(f"the giver's wait answered {waited['task']['state']}")
    return time.perf_counter() - started, waited["task"]["history"][-1]["message_id"]


async def message_round_trips(sender: Side, receiver: Side, last: int, times: int) -> float:
    """Seconds for ``times`` messages in a row after message ``last``, each sent and then held
    by a parked receiver."""
    path = session_messages_path(SESSION)
    total = 0.0
    for _ in range(times):
        waiting = asyncio.create_task(receiver.call("GET", f"{path}?after={last}&wait=30&limit=1"))
        await asyncio.sleep(0.003)  # parked, as in figure 3
        started = time.perf_counter()
        sent = await sender.call("POST", path, {"text": "ping"}, 201)
        page = await asyncio.wait_for(waiting, 30)
        total += time.perf_counter() - started
        if [m["id"] for m in page["messages"]] != [sent["id"]]:
            raise WireError(f"sent {sent['id']}, received {page['messages']}")
        last = sent["id"]
    return total


async def _sides(relay: Server) -> list[Side]:
    who = (GIVER, GIVER, WORKER, WORKER)
    return [Side(await HttpConnection.open(relay.port), client) for client in who]


async def handoff_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 11: p50 hand-off round trip against p50 of three message round trips."""
    relay = pool.shared_relay()
    await create_session(relay, GIVER, SESSION, [WORKER])
    giver, waiter, worker, receiver = await _sides(relay)
    rounds = max(5, scale.latency_messages // 5)
    handoffs, baselines = [], []
    try:
        for i in range(WARMUP + rounds):
            handoff, last = await handoff_round_trip(giver, waiter, worker)
            messages = await message_round_trips(giver, receiver, last, 3)
            if i >= WARMUP:
                handoffs.append(handoff)
                baselines.append(messages)
    finally:
        for side in (giver, waiter, worker, receiver):
            await side.connection.close()
    value, base = Latencies(tuple(handoffs)), Latencies(tuple(baselines))
    ratio = value.p50_ms / base.p50_ms
    return [
        Row(
            figure="11 hand-off round trip",
            case="give, claim, complete, giver woken (HTTP)",
            value=value.p50_ms,
            unit="ms",
            baseline=base.p50_ms,
            baseline_name="3 message round trips",
            ratio=ratio,
            target=f"p50 <= {TARGET_RATIO:g} x base",
            passed=ratio <= TARGET_RATIO,
            note=f"p99 {value.p99_ms:.2f} ms (base p99 {base.p99_ms:.2f} ms), {rounds} rounds",
            details={"handoff": value.summary(), "messages": base.summary()},
        )
    ]

"""Sends from an event loop (``RelayService.send_message``, what the HTTP route and the MCP tool
call): they join the group commit of thread writes without blocking the loop, are answered only
once durable, fail alone, and a queued write is kept even when its caller stops waiting. And the
last-seen memory a send's "offline" answer comes from."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from relay_core import CreateSessionRequest, Forbidden, SendMessageRequest, now_ms
from relay_core.wire import RELAY_SENDER
from relay_server.service import RelayService
from relay_server.service.last_seen import REREAD_S, LastSeen
from relay_server.storage import open_storage
from relay_server.storage.models import Client
from tests.conftest import service_on
from tests.server import test_send_path
from tests.server.test_send_path import MEMBERS, text

pytestmark = pytest.mark.anyio
service = test_send_path.service
"""Session ``team`` of ``MEMBERS`` on a fresh database (the send path tests' fixture)."""
T = TypeVar("T")


@contextmanager
def writer_lock_held(service: RelayService) -> Iterator[threading.Event]:
    """Hold the database's writer lock in a thread of its own until the event is set (or the
    block ends), so that every write queues behind it."""
    release, holding = threading.Event(), threading.Event()

    def hold() -> None:
        with service.storage.transaction():
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(30)
    try:
        yield release
    finally:
        release.set()
        thread.join(30)


async def until_queued(service: RelayService, count: int) -> None:
    with anyio.fail_after(30):
        while service.storage.group_commit.pending() < count:
            await asyncio.sleep(0.005)


async def settle(tasks: list[asyncio.Task[T]]) -> list[T | BaseException]:
    with anyio.fail_after(30):
        return await asyncio.gather(*tasks, return_exceptions=True)


def started(coroutines: list[Awaitable[T]]) -> list[asyncio.Task[T]]:
    return [asyncio.ensure_future(c) for c in coroutines]


async def test_sends_from_a_coroutine_and_from_threads_share_one_commit(
    service: RelayService,
) -> None:
    before = service.storage.commits
    with writer_lock_held(service):
        from_loop = started(
            [service.send_message(f"s{i}", "team", text(f"async s{i}")) for i in (0, 1)]
        )
        from_threads = started(
            [
                anyio.to_thread.run_sync(service.post_message, f"s{i}", "team", text(f"sync s{i}"))
                for i in (2, 3)
            ]
        )
        await until_queued(service, 4)
        assert not any(task.done() for task in from_loop)  # not answered before the commit
    sent = await settle(from_loop + from_threads)

    assert service.storage.commits - before == 2  # the holder's, and one for all four sends
    page = service.read_messages("b", "team", after_id=0)
    assert sorted(m.text for m in page.messages) == sorted(
        [*(f"async s{i}" for i in (0, 1)), *(f"sync s{i}" for i in (2, 3))]
    )
    assert sorted(s.id for s in sent) == [m.id for m in page.messages]  # type: ignore[union-attr]


async def test_the_event_loop_runs_while_a_send_waits_for_its_commit(
    service: RelayService,
) -> None:
    with writer_lock_held(service) as release:
        send = asyncio.ensure_future(service.send_message("s0", "team", text("waits")))
        await until_queued(service, 1)
        ticks = 0
        for _ in range(10):  # the loop is free: a blocked loop would not tick at all
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 10
        assert not send.done()
        release.set()
        with anyio.fail_after(30):
            sent = await send
    assert service.get_message("b", sent.id).text == "waits"


async def test_a_refused_send_from_a_coroutine_fails_alone(service: RelayService) -> None:
    service.leave("s1", "team")
    with writer_lock_held(service):
        tasks = started(
            [
                service.send_message("s0", "team", text("first")),
                service.send_message("s1", "team", text("from one who left")),
                service.send_message("s2", "team", text("last")),
            ]
        )
        await until_queued(service, 3)
    first, refused, last = await settle(tasks)

    assert isinstance(refused, Forbidden)
    # The order the writes queued in is not the order the tasks started: the first send after
    # a start looks for passed deadlines in a worker thread.
    stored = service.read_messages("b", "team", after_id=0).messages
    assert sorted(m.text for m in stored) == ["first", "last"]
    assert {m.id for m in stored} == {first.id, last.id}  # type: ignore[union-attr]


async def test_a_queued_send_is_kept_when_its_caller_stops_waiting(
    service: RelayService,
) -> None:
    with writer_lock_held(service):
        send = asyncio.ensure_future(service.send_message("s0", "team", text("hung up")))
        await until_queued(service, 1)
        send.cancel()
    await settle([send])
    with anyio.fail_after(30):
        while service.storage.group_commit.pending() or service.latest_message_id() == 0:
            await asyncio.sleep(0.005)

    assert send.cancelled()
    assert [m.text for m in service.read_messages("b", "team", after_id=0).messages] == ["hung up"]


async def test_closing_the_store_commits_what_coroutines_queued(tmp_path: Path) -> None:
    path = tmp_path / "relay.sqlite3"
    storage = open_storage(path)
    service = service_on(storage)
    service.create_session("alpha", CreateSessionRequest(name="team", participants=MEMBERS))
    with writer_lock_held(service):
        tasks = started([service.send_message(f"s{i}", "team", text(f"s{i}")) for i in range(4)])
        await until_queued(service, 4)
        closing = asyncio.ensure_future(anyio.to_thread.run_sync(storage.close))
    sent = await settle([*tasks, closing])

    assert not [s for s in sent if isinstance(s, BaseException)]
    reopened = open_storage(path)
    try:
        texts = [m.text for m in service_on(reopened).read_messages("b", "team", 0).messages]
    finally:
        reopened.close()
    assert sorted(texts) == [f"s{i}" for i in range(4)]


async def test_a_send_with_passed_deadlines_settles_them_before_it_is_stored(
    service: RelayService,
) -> None:
    clock = [now_ms()]
    service.delivery_clock = lambda: clock[0]  # type: ignore[method-assign]
    asked = SendMessageRequest.parse({"text": "answer within a second", "reply_by_s": 1})
    first = await service.send_message("alpha", "team", asked)
    clock[0] += 5_000

    later = await service.send_message("s0", "team", text("after the deadline"))

    page = service.read_messages("alpha", "team", after_id=first.id)
    bounce, after = page.messages
    assert bounce.sender == RELAY_SENDER
    assert bounce.reply_to == first.id
    assert after.id == later.id


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_last_seen_answers_from_memory_what_it_saw_and_rereads_the_store_later(
    service: RelayService,
) -> None:
    clock = Clock()
    seen = LastSeen(clock)
    recent = now_ms() - 60_000
    with service.storage.transaction():  # known to the store, seen long ago
        Client.update(last_seen_ms=recent - 1).where(Client.client_id.in_(["b", "s0"])).execute()

    seen.note("b", now_ms())
    assert seen.since(["b", "s0", "nobody"], recent)["b"] >= recent  # memory: no query needed
    assert seen.since(["s0"], recent) == {"s0": recent - 1}  # read from the store
    assert "nobody" not in seen.since(["nobody"], recent)  # unknown to the store: left out

    stamp = now_ms()  # another relay process sees s0 and writes it
    with service.storage.transaction():
        Client.update(last_seen_ms=stamp).where(Client.client_id == "s0").execute()
    assert seen.since(["s0"], recent) == {"s0": recent - 1}  # still the read of a moment ago
    clock.now += REREAD_S
    assert seen.since(["s0"], recent) == {"s0": stamp}


async def test_a_send_names_offline_only_the_recipients_not_seen_lately(
    service: RelayService,
) -> None:
    for client in ("b", "s0"):  # a first call after a start is recorded, later ones noted
        if service.touch_due(client):
            service.record_seen(client)
    sent = await service.send_message("alpha", "team", text("who is around?"))

    assert sent.offline == sorted(set(MEMBERS) - {"alpha", "b", "s0"})

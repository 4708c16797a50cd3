"""The send path in process: group commit, the roster cache and batched last-seen times.

Concurrent writes are made to queue deterministically, without sleeping on a guess: the test
holds the database's writer lock (an open write transaction) while the senders queue behind
it, waits until the queue holds them all, and then lets go.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from relay_core import (
    Conflict,
    CreateSessionRequest,
    Forbidden,
    InviteRequest,
    Message,
    SendMessageRequest,
)
from relay_server.service import RelayService
from relay_server.service import clients as clients_feature
from relay_server.storage import messages, open_storage
from relay_server.storage.models import Client
from relay_server.storage.models import Message as MessageRow
from tests.conftest import service_on

SENDERS = 8
MEMBERS = ["b", "c", *(f"s{i}" for i in range(SENDERS))]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RelayService]:
    """A service on a fresh database with session ``team`` of alpha, b, c and s0..s7."""
    storage = open_storage(tmp_path / "relay.sqlite3")
    service = service_on(storage)
    service.create_session("alpha", CreateSessionRequest(name="team", participants=MEMBERS))
    yield service
    service.stop()
    storage.close()


def text(body: str) -> SendMessageRequest:
    return SendMessageRequest.parse({"text": body})


def queued_behind_a_held_writer(
    service: RelayService, writes: list[Callable[[], object]]
) -> list[object]:
    """Run ``writes`` in threads that all queue while this thread holds the writer lock; the
    outcome of each (its result, or the exception it raised), in the order given."""
    outcomes: list[object] = [None] * len(writes)

    def run(i: int) -> None:
        try:
            outcomes[i] = writes[i]()
        except Exception as error:
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writes))]
    with service.storage.transaction():  # holds the writer lock: every write must queue
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while service.storage.group_commit.pending() < len(writes):
            assert time.monotonic() < deadline, "the writes never queued"
            time.sleep(0.005)
    for thread in threads:
        thread.join(30)
    return outcomes


def test_concurrent_sends_share_one_commit(service: RelayService) -> None:
    before = service.storage.commits
    sends = [
        lambda i=i: service.post_message(f"s{i}", "team", text(f"from s{i}"))
        for i in range(SENDERS)
    ]

    sent = queued_behind_a_held_writer(service, sends)

    # One commit for the test's own transaction, one for the group of all eight sends.
    assert service.storage.commits - before < SENDERS
    assert service.storage.commits - before == 2
    page = service.read_messages("b", "team", after_id=0)
    assert sorted(m.text for m in page.messages) == sorted(f"from s{i}" for i in range(SENDERS))
    assert sorted(s.id for s in sent) == [m.id for m in page.messages]  # type: ignore[attr-defined]


def test_a_write_that_fails_in_a_group_fails_alone(service: RelayService) -> None:
    service.leave("s3", "team")

    def stores_then_fails() -> None:
        messages.add_message(
            1, "s4", text="never kept", reply_to=None, recipients=[], attachments=[], stamp=1
        )
        raise RuntimeError("this write breaks after its insert")

    writes: list[Callable[[], object]] = [
        lambda: service.post_message("s0", "team", text("first")),
        lambda: service.post_message("s3", "team", text("from one who left")),
        lambda: service.storage.write(stores_then_fails),
        lambda: service.post_message("s1", "team", text("last")),
    ]
    before = service.storage.commits

    first, refused, broken, last = queued_behind_a_held_writer(service, writes)

    assert isinstance(refused, Forbidden)
    assert isinstance(broken, RuntimeError)
    assert service.storage.commits - before == 2  # the test's, and the group's: no retries
    texts = [m.text for m in service.read_messages("b", "team", after_id=0).messages]
    assert texts == ["first", "last"]
    assert first.id < last.id  # type: ignore[attr-defined]
    assert MessageRow.select().where(MessageRow.text == "never kept").count() == 0


@pytest.mark.anyio
async def test_events_of_a_group_leave_in_commit_order(service: RelayService) -> None:
    service.hub.attach(asyncio.get_running_loop())
    heard: list[Message | None] = []
    watch = service.watch("b", heard.append)
    sends = [
        lambda i=i: service.post_message(f"s{i}", "team", text(f"from s{i}"))
        for i in range(SENDERS)
    ]
    try:
        sent = await anyio.to_thread.run_sync(queued_behind_a_held_writer, service, sends)
        with anyio.fail_after(10):
            while len(heard) < SENDERS:
                await asyncio.sleep(0.01)
    finally:
        watch.stop()
    ids = [m.id for m in heard if m is not None]
    assert ids == sorted(s.id for s in sent)  # type: ignore[attr-defined]


def test_a_member_that_left_cannot_send_or_read_after_the_cache_was_warm(
    service: RelayService,
) -> None:
    service.post_message("b", "team", text("warm"))
    service.read_messages("b", "team")  # the roster is cached now

    service.leave("b", "team")

    with pytest.raises(Forbidden):
        service.post_message("b", "team", text("after leaving"))
    with pytest.raises(Forbidden):
        service.read_messages("b", "team")
    with pytest.raises(Forbidden):
        service.poll("b", "team")
    with pytest.raises(Forbidden):
        service.mark_read("b", "team", 1)


def test_invite_and_close_reach_a_warm_cache(service: RelayService) -> None:
    service.post_message("alpha", "team", text("warm"))
    with pytest.raises(Forbidden):
        service.post_message("newcomer", "team", text("not yet"))

    service.invite("alpha", "team", InviteRequest(clients=["newcomer"]))
    assert service.post_message("newcomer", "team", text("now")).id > 0
    assert service.read_messages("newcomer", "team", after_id=0).messages

    service.close_session("alpha", "team")
    with pytest.raises(Conflict):
        service.post_message("alpha", "team", text("closed"))


def test_a_new_session_is_found_after_a_miss(service: RelayService) -> None:
    with pytest.raises(Exception, match="does not exist"):
        service.post_message("alpha", "later", text("too early"))
    service.create_session("alpha", CreateSessionRequest(name="later", participants=["b"]))
    assert service.post_message("alpha", "later", text("now")).id > 0


def test_last_seen_times_are_written_together_off_the_request_path(
    service: RelayService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert service.touch_due("b") is True  # the first call after a start records it itself
    service.record_seen("b")
    first = Client.get_by_id("b").last_seen_ms

    monkeypatch.setattr(clients_feature, "TOUCH_INTERVAL_S", 0.0)
    time.sleep(0.002)  # a later millisecond, so the new stamp differs
    assert service.touch_due("b") is False  # noted in memory, not written on this call
    assert Client.get_by_id("b").last_seen_ms == first

    service.flush_seen()
    assert Client.get_by_id("b").last_seen_ms > first


def test_a_stopping_relay_writes_the_noted_times_and_arms_no_more_writes(
    service: RelayService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.touch_due("b")
    service.record_seen("b")
    first = Client.get_by_id("b").last_seen_ms
    monkeypatch.setattr(clients_feature, "TOUCH_INTERVAL_S", 0.0)
    time.sleep(0.002)  # a later millisecond, so the new stamp differs
    service.touch_due("b")
    assert service._seen_flush is not None  # a write is armed

    service.stop_seen()
    assert Client.get_by_id("b").last_seen_ms > first  # written at the stop, not lost
    assert service._seen_flush is None  # and the armed write is gone

    service.touch_due("b")  # a call still finishing as the relay stops
    assert service._seen_flush is None  # arms nothing that would write to a closed store


def test_stopping_the_service_writes_the_noted_handovers_and_leaves_no_timer(
    service: RelayService,
) -> None:
    request = SendMessageRequest.parse({"text": "due in an hour", "reply_by_s": 3600})
    service.post_message("alpha", "team", request)  # arms the reply-by timer
    service.read_messages("b", "team", 0)  # notes a handover and arms its write
    assert service._due_timer is not None
    assert service._handed_flush is not None

    service.stop()
    assert service.take_handed() == []  # written, not left in memory
    assert (service._due_timer, service._handed_flush, service._seen_flush) == (None,) * 3


def test_two_relays_in_one_process_share_no_delivery_or_deadline_lock(
    service: RelayService, tmp_path: Path
) -> None:
    storage = open_storage(tmp_path / "other.sqlite3")
    other = service_on(storage)
    try:
        assert other._handed_lock is not service._handed_lock
        assert other._due_lock is not service._due_lock
    finally:
        other.stop()
        storage.close()


class Abandon(Exception):
    """Raised to roll a test's transaction back."""


def post_then_roll_back(service: RelayService) -> None:
    with service.storage.transaction():
        service.post_message("s0", "team", text("rolled back with its transaction"))
        raise Abandon


@pytest.mark.anyio
async def test_a_write_inside_a_transaction_belongs_to_that_transaction(
    service: RelayService,
) -> None:
    service.hub.attach(asyncio.get_running_loop())
    heard: list[Message | None] = []
    watch = service.watch("b", heard.append)
    try:
        with pytest.raises(Abandon):
            await anyio.to_thread.run_sync(post_then_roll_back, service)
        kept = await anyio.to_thread.run_sync(service.post_message, "s1", "team", text("committed"))
        with anyio.fail_after(10):
            while not heard:
                await asyncio.sleep(0.01)
    finally:
        watch.stop()
    # Nothing of the rolled-back send was kept, and no one heard of it.
    assert [m.text for m in service.read_messages("b", "team", after_id=0).messages] == [
        "committed"
    ]
    assert [m.id for m in heard if m is not None] == [kept.id]

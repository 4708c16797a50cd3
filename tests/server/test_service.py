"""The service in process, without an adapter: watching for messages and the long polls on it.

``fresh_service`` runs on every storage backend (``database_url`` in tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import pytest

from relay_core import CreateSessionRequest, Message, SendMessageRequest, Unavailable
from relay_server.events import EventHub
from relay_server.service import RelayService
from relay_server.storage import open_storage
from tests.conftest import service_on

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fresh_service(database_url: str) -> AsyncIterator[RelayService]:
    """A service on an empty database, its hub delivering on the test's event loop, with a
    session ``team`` of alpha, b and c."""
    storage = open_storage(database_url)
    hub = EventHub()
    hub.attach(asyncio.get_running_loop())
    service = service_on(storage, hub)
    service.create_session("alpha", CreateSessionRequest(name="team", participants=["b", "c"]))
    yield service
    service.stop()
    storage.close()


class Heard:
    """What a watch listener heard, with a wait for the next one."""

    def __init__(self) -> None:
        self.messages: list[Message | None] = []
        self.arrived = asyncio.Event()

    def __call__(self, message: Message | None) -> None:
        self.messages.append(message)
        self.arrived.set()

    async def next(self) -> Message | None:
        with anyio.fail_after(5):
            await self.arrived.wait()
        self.arrived.clear()
        return self.messages[-1]


def send(service: RelayService, text: str, to: list[str] | None = None) -> int:
    return service.post_message("alpha", "team", SendMessageRequest(text=text, to=to or [])).id


async def settled() -> None:
    """Let the loop run what a publish queued (delivery goes through call_soon)."""
    for _ in range(3):
        await anyio.sleep(0)


async def test_a_watcher_hears_a_committed_message_addressed_to_it(fresh_service):
    heard = Heard()
    watch = fresh_service.watch("b", heard)
    sent = send(fresh_service, "hello")
    message = await heard.next()
    watch.stop()
    assert message is not None
    assert (message.id, message.text, message.sender) == (sent, "hello", "alpha")
    assert message == fresh_service.get_message("b", sent)
    assert fresh_service.newest_delivered_id() == sent


async def test_a_watcher_does_not_hear_a_message_it_may_not_read(fresh_service):
    heard_by_b, heard_by_c = Heard(), Heard()
    fresh_service.watch("b", heard_by_b)
    fresh_service.watch("c", heard_by_c)
    send(fresh_service, "for c only", to=["c"])
    assert (await heard_by_c.next()) is not None
    await settled()
    assert heard_by_b.messages == []


async def test_a_sender_does_not_hear_its_own_message(fresh_service):
    heard = Heard()
    fresh_service.watch("alpha", heard)
    send(fresh_service, "mine")
    await settled()
    assert heard.messages == []


async def test_a_stopped_watch_hears_nothing_more(fresh_service):
    heard = Heard()
    watch = fresh_service.watch("b", heard)
    send(fresh_service, "one")
    await heard.next()
    watch.stop()
    watch.stop()  # twice is harmless
    send(fresh_service, "two")
    await settled()
    assert [m.text for m in heard.messages if m is not None] == ["one"]


async def test_a_watcher_hears_the_relay_closing(fresh_service):
    closed = asyncio.Event()
    fresh_service.watch("b", Heard(), on_close=closed.set)
    fresh_service.hub.close()
    assert closed.is_set()


LONG_POLLS = {
    "wait_for_messages": lambda service: service.wait_for_messages("b", "team", timeout_s=30),
    "read_or_wait": lambda service: service.read_or_wait("b", "team", wait_s=30),
}


@pytest.mark.parametrize("long_poll", LONG_POLLS.values(), ids=LONG_POLLS.keys())
async def test_a_long_poll_returns_as_soon_as_a_message_arrives(fresh_service, long_poll):
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(send_once_parked, fresh_service)
        with anyio.fail_after(5):
            page = await long_poll(fresh_service)
    assert [m.text for m in page.messages] == ["late"]
    assert not page.timed_out


async def send_once_parked(service: RelayService) -> None:
    """Send "late" to the team once a long poll has parked (its watch is registered)."""
    with anyio.fail_after(5):
        while not service.hub.listener_count():
            await anyio.sleep(0.01)
    await anyio.to_thread.run_sync(send, service, "late")


async def test_the_long_poll_times_out_without_a_message(fresh_service):
    send(fresh_service, "not for b", to=["c"])
    page = await fresh_service.wait_for_messages("b", "team", timeout_s=0.05)
    assert page.messages == []
    assert page.timed_out


async def test_a_long_poll_answers_at_once_when_the_relay_is_closing(fresh_service):
    fresh_service.hub.close()
    with pytest.raises(Unavailable):
        await fresh_service.wait_for_messages("b", "team", timeout_s=30)


async def test_membership_changes_reach_a_warm_session_cache(fresh_service: RelayService) -> None:
    """Sends read a session's members from a cache: a leave and an invite must reach it at once,
    on every backend."""
    from relay_core import Forbidden, InviteRequest

    request = SendMessageRequest.parse({"text": "warm"})
    fresh_service.post_message("alpha", "team", request)
    fresh_service.post_message("b", "team", request)
    fresh_service.leave("b", "team")
    with pytest.raises(Forbidden):
        fresh_service.post_message("b", "team", request)
    with pytest.raises(Forbidden):
        fresh_service.post_message("d", "team", request)
    fresh_service.invite("alpha", "team", InviteRequest(clients=["d"]))
    assert fresh_service.post_message("d", "team", request).id > 0

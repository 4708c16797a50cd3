"""The event hub on PostgreSQL delivers in the database's commit order: this process's own
events wait for their announcement (LISTEN/NOTIFY), others' come without their message, and
nothing is delivered twice or out of id order."""

from __future__ import annotations

import asyncio

import pytest

from relay_core import Message
from relay_server.events import EventHub, Posted

pytestmark = pytest.mark.anyio


def own(message_id: int) -> Posted:
    message = Message.model_validate(
        {"id": message_id, "session": "s", "sender": "a", "text": "t", "created_at": 0}
    )
    return Posted(message_id, "s", "a", frozenset({"b"}), message)


def other(message_id: int) -> Posted:
    return Posted(message_id, "s", "c", frozenset({"b"}))


async def delivered(hub: EventHub, steps) -> list[tuple[int, bool]]:
    heard: list[tuple[int, bool]] = []
    hub.attach(asyncio.get_running_loop())
    hub.follow_announcements()
    hub.subscribe(["b"], lambda e: heard.append((e.message_id, e.message is not None)))
    for step in steps:
        step()
    await asyncio.sleep(0)  # the loop runs the queued deliveries (call_soon, FIFO)
    await asyncio.sleep(0)
    return heard


async def test_own_events_wait_for_their_announcement_and_keep_commit_order():
    hub = EventHub()
    heard = await delivered(
        hub,
        [
            lambda: hub.publish(own(2)),  # committed after 1 (another replica's), heard first
            lambda: hub.announced(1, lambda: other(1)),
            lambda: hub.announced(2, lambda: other(2)),
        ],
    )
    assert heard == [(1, False), (2, True)]


async def test_an_announcement_heard_before_its_own_event_is_delivered_once():
    hub = EventHub()
    heard = await delivered(
        hub, [lambda: hub.announced(5, lambda: other(5)), lambda: hub.publish(own(5))]
    )
    assert heard == [(5, False)]


async def test_own_events_whose_announcement_was_lost_go_before_a_later_one():
    hub = EventHub()
    heard = await delivered(
        hub,
        [
            lambda: hub.publish(own(3)),
            lambda: hub.publish(own(4)),
            lambda: hub.announced(4, lambda: other(4)),
        ],
    )
    assert heard == [(3, True), (4, True)]


async def test_a_resync_wakes_every_listener_without_a_message():
    hub = EventHub()
    heard = await delivered(hub, [hub.resync])
    assert heard == [(0, False)]

"""How handovers are written: a push, a read or a wait is noted in memory and written off the
request's path within ``DELIVERED_FLUSH_S`` (no fsync on the way to the recipient), before any
read time that follows it, and when the relay stops. On each backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay_core import CreateSessionRequest, SendMessageRequest
from relay_server.events import EventHub
from relay_server.service import RelayLimits, RelayService
from relay_server.service.deliveries import DELIVERED_FLUSH_S
from relay_server.storage import open_storage
from relay_server.storage.models import Delivery
from tests.server.test_delivery import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[RelayService]:
    storage = open_storage(database_url)
    limits = RelayLimits(max_blob_bytes=1 << 20, blob_quota_bytes=1 << 24, inline_file_bytes=0)
    service = RelayService(storage, EventHub(), version="test", auth_mode="shared", limits=limits)
    service.delivery_clock = clock
    service.create_session("alpha", CreateSessionRequest(name="team", participants=["bravo"]))
    yield service
    service.hub.close()
    service.stop()
    storage.close()


def send(service: RelayService, text: str = "hi") -> int:
    return service.post_message("alpha", "team", SendMessageRequest.parse({"text": text})).id


def handovers(message_id: int) -> list[tuple[str, int, int | None]]:
    rows = Delivery.select(Delivery.client_id, Delivery.delivered_ms, Delivery.read_ms).where(
        Delivery.message == message_id
    )
    return [(row.client_id, row.delivered_ms, row.read_ms) for row in rows]


def test_a_read_is_recorded_as_delivered_off_its_path(service: RelayService, clock: Clock) -> None:
    sent = send(service)
    commits = service.storage.commits

    assert [m.id for m in service.read_messages("bravo", "team").messages] == [sent]

    assert service.storage.commits == commits  # the read itself wrote nothing
    deadline = time.monotonic() + DELIVERED_FLUSH_S + 10
    while not handovers(sent):
        assert time.monotonic() < deadline, "the handover was never written"
        time.sleep(0.02)
    assert handovers(sent) == [("bravo", clock.ms, None)]


def test_a_read_position_move_writes_the_handovers_noted_before_it(
    service: RelayService, clock: Clock
) -> None:
    sent = send(service)
    shown_at = clock.ms
    service.read_messages("bravo", "team")  # handed over, noted in memory
    clock.ms += 5_000

    service.mark_read("bravo", "team", sent)

    assert handovers(sent) == [("bravo", shown_at, shown_at + 5_000)]


def test_a_stopping_relay_writes_what_it_noted_and_arms_no_more_writes(
    service: RelayService, clock: Clock
) -> None:
    first, second = send(service, "one"), send(service, "two")
    service.read_messages("bravo", "team", limit=1)

    service.stop_delivered()

    assert handovers(first) == [("bravo", clock.ms, None)]
    service.read_messages("bravo", "team", after_id=first)  # noted after the stop...
    assert service._handed_flush is None  # ...with no timer armed to write into a closed store
    service.flush_delivered()
    assert handovers(second) == [("bravo", clock.ms, None)]

"""Delivery states, reply-by bounces and expiry, on each backend and on an injected clock.

The service runs in process on a fresh store with session ``team`` of alpha, bravo and carol.
Time moves only when a test moves the clock; deadlines are acted on by the reads, waits and
sends that find them passed (one test lets the relay's own timer do it, on the real clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from relay_core import InvalidInput, NotFound, SendMessageRequest, now_ms
from relay_core.delivery import MessageStatus
from relay_core.wire import MAX_DEADLINE_S, RELAY_SENDER
from relay_server.events import EventHub
from relay_server.service import RelayLimits, RelayService
from relay_server.storage import open_storage
from relay_server.storage.blobs import BlobStore


class Clock:
    """The service's delivery clock, moved by the test."""

    def __init__(self) -> None:
        self.ms = now_ms()

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += round(seconds * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[RelayService]:
    """Session ``team`` of alpha, bravo and carol on each backend, with a blob store, on
    ``clock``."""
    storage = open_storage(database_url)
    service = RelayService(
        storage,
        EventHub(),
        version="test",
        auth_mode="shared",
        limits=RelayLimits(
            max_blob_bytes=1 << 20, blob_quota_bytes=1 << 24, inline_file_bytes=1 << 20
        ),
        blobs=BlobStore(tmp_path / "blobs", 1 << 20, 1 << 24),
    )
    service.delivery_clock = clock
    from relay_core import CreateSessionRequest

    service.create_session(
        "alpha", CreateSessionRequest(name="team", participants=["bravo", "carol"])
    )
    yield service
    service.hub.close()  # stops the deadline timer
    storage.close()


def send(service: RelayService, sender: str = "alpha", text: str = "hi", **fields: object) -> int:
    request = SendMessageRequest.parse({"text": text, **fields})
    return service.post_message(sender, "team", request).id


def states(status: MessageStatus) -> dict[str, str]:
    return {r.client_id: r.state for r in status.recipients}


def bounces(service: RelayService, client: str = "alpha") -> list[str]:
    page = service.read_messages(client, "team", after_id=0, limit=500)
    return [m.text for m in page.messages if m.sender == RELAY_SENDER]


# --- states -----------------------------------------------------------------------------------


def test_a_message_is_stored_then_delivered_by_a_read_then_read(service, clock) -> None:
    sent = send(service)
    status = service.message_status("alpha", sent)
    assert states(status) == {"bravo": "stored", "carol": "stored"}
    assert all(r.delivered_at is None and r.read_at is None for r in status.recipients)

    clock.advance(5)
    service.read_messages("bravo", "team")  # shown, not marked read
    bravo = service.message_status("alpha", sent).recipients[0]
    assert (bravo.client_id, bravo.state) == ("bravo", "delivered")
    assert bravo.delivered_at is not None
    assert bravo.read_at is None

    clock.advance(5)
    service.mark_read("bravo", "team", sent)
    status = service.message_status("alpha", sent)
    assert states(status) == {"bravo": "read", "carol": "stored"}
    bravo = status.recipients[0]
    assert bravo.read_at is not None
    assert bravo.delivered_at is not None
    assert (bravo.read_at - bravo.delivered_at).total_seconds() == 5


def test_a_wait_delivers_and_a_read_that_marks_read_reads(service) -> None:
    sent = send(service)
    service.poll("carol", "team")
    service.read_messages("bravo", "team", mark_read=True)
    assert states(service.message_status("alpha", sent)) == {"bravo": "read", "carol": "delivered"}


def test_a_senders_own_read_records_nothing_for_it(service) -> None:
    sent = send(service)
    service.read_messages("alpha", "team", after_id=0, mark_read=True)
    status = service.message_status("alpha", sent)
    assert "alpha" not in states(status)
    assert states(status) == {"bravo": "stored", "carol": "stored"}


def test_a_recipient_sees_its_own_row_and_others_see_nothing(service) -> None:
    everyone = send(service)
    to_bravo = send(service, to=["bravo"])
    assert states(service.message_status("bravo", everyone)) == {"bravo": "stored"}
    assert states(service.message_status("bravo", to_bravo)) == {"bravo": "stored"}
    for who, message_id in (("carol", to_bravo), ("dave", everyone), ("dave", 10**9)):
        with pytest.raises(NotFound) as refused:
            service.message_status(who, message_id)
        with pytest.raises(NotFound) as unseen:
            service.get_message(who, message_id)
        assert refused.value.code == unseen.value.code


# --- reply-by ---------------------------------------------------------------------------------


def test_the_sender_gets_one_bounce_naming_who_has_not_read_by_the_reply_by_time(
    service, clock
) -> None:
    sent = send(service, reply_by_s=60)
    service.read_messages("bravo", "team", mark_read=True)
    clock.advance(59)
    assert bounces(service) == []
    clock.advance(1)
    texts = bounces(service)
    assert len(texts) == 1
    assert f"#{sent}" in texts[0]
    assert "carol" in texts[0]
    assert "bravo" not in texts[0]
    bounce = service.poll("alpha", "team")
    assert [(m.sender, m.to, m.reply_to) for m in bounce.messages] == [
        (RELAY_SENDER, ["alpha"], sent)
    ]
    clock.advance(600)
    assert len(bounces(service)) == 1  # acted on once
    assert service.read_messages("bravo", "team", after_id=sent).messages == []  # only alpha


def test_nobody_is_bounced_when_everyone_read_in_time(service, clock) -> None:
    send(service, reply_by_s=60)
    service.read_messages("bravo", "team", mark_read=True)
    service.read_messages("carol", "team", mark_read=True)
    clock.advance(61)
    assert bounces(service) == []


def test_a_delivered_but_unread_message_still_bounces(service, clock) -> None:
    send(service, reply_by_s=10)
    service.read_messages("bravo", "team")
    service.read_messages("carol", "team")
    clock.advance(10)
    [text] = bounces(service)
    assert "bravo, carol" in text


@pytest.mark.anyio
async def test_the_relays_timer_wakes_a_waiting_sender_with_its_bounce(
    database_url: str, tmp_path: Path
) -> None:
    from tests.conftest import service_on

    storage = open_storage(database_url)
    hub = EventHub()
    hub.attach(asyncio.get_running_loop())
    service = service_on(storage, hub)
    from relay_core import CreateSessionRequest

    service.create_session("alpha", CreateSessionRequest(name="team", participants=["bravo"]))
    try:
        sent = send(service, reply_by_s=0.05)
        with anyio.fail_after(10):  # nothing else calls the relay: only its timer can answer
            page = await service.wait_for_messages("alpha", "team", timeout_s=20)
        assert [(m.sender, m.reply_to) for m in page.messages] == [(RELAY_SENDER, sent)]
        assert "bravo" in page.messages[0].text
    finally:
        hub.close()
        storage.close()


# --- expiry -----------------------------------------------------------------------------------


def test_an_expired_message_is_gone_for_those_who_had_not_read_it(service, clock) -> None:
    sent = send(service, ttl_s=30)
    service.read_messages("bravo", "team", mark_read=True)
    service.read_messages("carol", "team")  # delivered, not read
    clock.advance(30)
    later = send(service, text="later")
    assert [m.id for m in service.read_messages("carol", "team", after_id=0).messages] == [later]
    with pytest.raises(NotFound):
        service.get_message("carol", sent)
    with pytest.raises(NotFound):
        service.message_status("carol", sent)
    assert service.get_session("carol", "team").unread == 1
    assert sent in [m.id for m in service.read_messages("bravo", "team", after_id=0).messages]
    assert service.get_message("alpha", sent).id == sent
    assert bounces(service) == []  # bravo read it


def test_moving_a_read_position_past_an_expired_message_does_not_bring_it_back(
    service, clock
) -> None:
    sent = send(service, ttl_s=30)
    clock.advance(31)
    later = send(service, text="later")
    service.mark_read("carol", "team", later)
    assert [m.id for m in service.read_messages("carol", "team", after_id=0).messages] == [later]
    assert states(service.message_status("alpha", sent))["carol"] == "stored"


def test_the_sender_is_told_when_a_message_expires_unread_by_all(service, clock) -> None:
    sent = send(service, ttl_s=30, reply_by_s=10)
    clock.advance(10)
    [reply_by] = bounces(service)
    assert "bravo, carol" in reply_by
    clock.advance(20)
    texts = bounces(service)
    assert len(texts) == 2
    assert "expired" in texts[1]
    assert f"#{sent}" in texts[1]


def test_an_expired_messages_attachment_becomes_garbage(service, clock) -> None:
    blob = service.put_blob("alpha", b"secret plans")
    kept = service.put_blob("alpha", b"kept plans")
    ref = {"sha256": blob.sha256, "filename": "plans.txt"}
    send(service, attachments=[ref], ttl_s=30)
    send(service, attachments=[{"sha256": kept.sha256, "filename": "kept.txt"}])
    assert service.collect_garbage(0, now=clock.ms / 1000 + 1).blobs == []
    clock.advance(30)
    report = service.collect_garbage(0, now=clock.ms / 1000)
    assert [b.sha256 for b in report.blobs] == [blob.sha256]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"ttl_s": -1},
        {"ttl_s": 0},
        {"reply_by_s": -5},
        {"reply_by_s": MAX_DEADLINE_S + 1},
        {"ttl_s": float("inf")},
        {"reply_by_s": 60, "ttl_s": 30},
    ],
)
def test_bad_deadlines_are_refused_and_store_nothing(service, fields) -> None:
    before = service.latest_message_id()
    with pytest.raises(InvalidInput) as refused:
        send(service, **fields)
    assert ("reply_by_s" in refused.value.message) or ("ttl_s" in refused.value.message)
    assert service.latest_message_id() == before


# --- oversize text ----------------------------------------------------------------------------


def test_an_oversize_text_travels_whole_as_an_attachment(service) -> None:
    text = "naïve ünïcode, and a line\n" * 4000  # about 112 KB of UTF-8, over 64 KiB
    sent = send(service, text=text)
    message = service.get_message("bravo", sent)
    assert message.text.startswith(text[:1000])
    assert len(message.text.encode()) < 5000
    assert "message.txt" in message.text
    [whole] = message.attachments
    assert (whole.filename, whole.size) == ("message.txt", len(text.encode()))
    assert service.read_blob("bravo", whole.sha256) == text.encode("utf-8")


def test_a_text_over_the_inline_upload_limit_is_refused_and_stores_nothing(service) -> None:
    from relay_core import TooLarge

    before = service.latest_message_id()
    with pytest.raises(TooLarge):
        send(service, text="x" * ((1 << 20) + 1))
    assert service.latest_message_id() == before


def test_a_strangers_oversize_text_is_refused_before_anything_is_stored(service) -> None:
    from relay_core import Forbidden

    with pytest.raises(Forbidden):
        send(service, sender="dave", text="x" * 70_000)
    assert tuple(service.blobs.usage()) == (0, 0)

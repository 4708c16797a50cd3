"""Delivery states: stored, delivered (pushed, or returned by a read or a wait), read.

A send writes nothing for them. What a push, a read or a wait hands a recipient is noted in
memory and written with the rest handed over within :data:`DELIVERED_FLUSH_S`, in one
statement, off every request's path (and at once when someone asks a status, with the next
read-position move, and when the relay stops). Moving a read position records the read time of
the messages it passes. So handing messages over costs no fsync on the way to the recipient, and
at most one write per flush interval. A relay that dies loses at most that interval of
"delivered" times (not the messages, not the reads).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Sequence
from typing import Final

from relay_core import Message, NotFound, QuotaExceeded, from_ms
from relay_core.delivery import DeliveryState, MessageStatus, RecipientStatus
from relay_server.service import bounds
from relay_server.service.base import ServiceBase
from relay_server.storage import deliveries, messages
from relay_server.storage.deliveries import Handover
from relay_server.storage.models import Message as MessageRow

log = logging.getLogger(__name__)

DELIVERED_FLUSH_S: Final = 0.5
"""Messages handed to recipients are recorded as delivered within this many seconds."""

Handed = tuple[str, int, int]
"""A handover noted in memory: client id, message id, milliseconds."""


class DeliveriesFeature(ServiceBase):
    """Record what recipients were handed and read; tell a sender what became of a message."""

    _handed: list[Handed] | None = None
    _handed_flush: threading.Timer | None = None
    _handed_closed = False

    def note_pushed(self, client_id: str, message_id: int) -> None:
        """``message_id`` was pushed to a live connection of ``client_id`` (on the loop thread:
        noted in memory, written within :data:`DELIVERED_FLUSH_S`)."""
        self.note_handed([(client_id, message_id, self.delivery_clock())])

    def record_delivered(self, caller: str, shown: Sequence[Message]) -> None:
        """Note the messages from others in ``shown`` as handed to ``caller`` now (written
        within :data:`DELIVERED_FLUSH_S`; never blocks)."""
        stamp = self.delivery_clock()
        self.note_handed([(caller, m.id, stamp) for m in shown if m.sender != caller])

    def note_handed(self, handed: list[Handed]) -> None:
        """Note handovers in memory; a timer writes them within :data:`DELIVERED_FLUSH_S`."""
        if not handed:
            return
        with self._handed_lock:
            if self._handed is None:
                self._handed = []
            self._handed.extend(handed)
            if self._handed_flush is None and not self._handed_closed:
                # A copy of this context: it says which relay's database the models use.
                flush = threading.Timer(
                    DELIVERED_FLUSH_S, contextvars.copy_context().run, (self._flush_on_timer,)
                )
                flush.daemon = True
                self._handed_flush = flush
                flush.start()

    def take_handed(self) -> list[Handed]:
        """The handovers noted and not written yet, taken out of memory: for a write that
        records them itself (before reads, so a delivery time is never a later read's)."""
        with self._handed_lock:
            handed, self._handed = self._handed or [], None
            timer, self._handed_flush = self._handed_flush, None
        if timer is not None:
            timer.cancel()
        return handed

    def flush_delivered(self) -> None:
        """Write the handovers noted in memory, in one statement.

        Bookkeeping only: on a full disk they are dropped (and logged); a later read records
        the messages as delivered anyway.
        """
        handed = self.take_handed()
        if not handed:
            return
        try:
            self.storage.write(lambda: deliveries.mark_delivered(handed))
        except QuotaExceeded as exc:
            log.warning("%d handovers not recorded as delivered: %s", len(handed), exc)

    def stop_delivered(self) -> None:
        """Write what is noted and arm no more timers: the relay calls this as it stops, before
        its store closes, so no handover is lost and no timer writes to a closed store."""
        with self._handed_lock:
            self._handed_closed = True
        self.flush_delivered()

    def _flush_on_timer(self) -> None:
        try:
            self.flush_delivered()
        except Exception:  # a timer thread: nobody else would hear of it
            log.exception("handovers not recorded as delivered")
        finally:
            self.storage.close_thread()

    def message_status(self, caller: str, message_id: int) -> MessageStatus:
        """Each recipient's state of a message: all of them for its sender, else the caller's.

        Raises:
            NotFound: no such message, or the caller may not read it, or it is not the sender's
                or one of its recipients' (the three are not told apart).
        """
        bounds.message_id(message_id, "message id")
        self.flush_delivered()
        now = self.delivery_clock()
        row = messages.visible_message(caller, message_id, now=now)
        with self.storage.transaction():
            clients = deliveries.recipients(row)
            handed = deliveries.handovers(row.id)
            clients = sorted(set(clients) | set(handed))
            if caller != row.sender_id:
                if caller not in clients:
                    raise NotFound(f"message {message_id} does not exist or is not visible to you")
                clients = [caller]
            positions = deliveries.read_positions(row.session_id, clients)
            session: str = row.session.name
        return MessageStatus(
            id=row.id,
            session=session,
            sender=row.sender_id,
            created_at=from_ms(row.created_ms),
            reply_by=from_ms(row.reply_by_ms) if row.reply_by_ms is not None else None,
            expires_at=from_ms(row.expires_ms) if row.expires_ms is not None else None,
            recipients=[
                recipient_status(row, c, handed.get(c), positions.get(c, 0)) for c in clients
            ],
        )


def read_at(row: MessageRow, handover: Handover | None, position: int) -> tuple[bool, int | None]:
    """Whether a recipient read the message, and when (None: not recorded).

    A recorded read time says so. Without one, a read position past the message does too, for
    a message that never expires (one sent before read times were recorded); an expiring one
    counts as read only when it was shown, or a read position that passed it after it expired
    would make it readable again.
    """
    if handover is not None and handover.read_ms is not None:
        return True, handover.read_ms
    return row.expires_ms is None and position >= row.id, None


def recipient_status(
    row: MessageRow, client: str, handover: Handover | None, position: int
) -> RecipientStatus:
    """One recipient's state of the message in ``row``."""
    was_read, read_ms = read_at(row, handover, position)
    state: DeliveryState = "read" if was_read else "delivered" if handover else "stored"
    return RecipientStatus(
        client_id=client,
        state=state,
        delivered_at=from_ms(handover.delivered_ms) if handover else None,
        read_at=from_ms(read_ms) if read_ms is not None else None,
    )

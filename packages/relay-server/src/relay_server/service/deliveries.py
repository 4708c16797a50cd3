"""Delivery states: stored, delivered (pushed, or returned by a read or a wait), read.

A send writes nothing for them. A page that a read or a wait returns is recorded as delivered
in one statement; a live push is noted in memory and written with the others pushed within
:data:`PUSHED_FLUSH_S`, in one statement, off the push's path (and at once when someone asks a
status). Moving a read position records the read time of the messages it passes. So what a
recipient was handed and read costs a write per page or batch, never one per message sent.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Sequence
from functools import partial
from typing import Final

from relay_core import Message, NotFound, QuotaExceeded, from_ms
from relay_core.delivery import DeliveryState, MessageStatus, RecipientStatus
from relay_server.service import bounds
from relay_server.service.base import ServiceBase
from relay_server.storage import deliveries, messages
from relay_server.storage.deliveries import Handover
from relay_server.storage.models import Message as MessageRow

log = logging.getLogger(__name__)

PUSHED_FLUSH_S: Final = 0.5
"""Messages pushed to live connections are recorded as delivered within this many seconds."""


class DeliveriesFeature(ServiceBase):
    """Record what recipients were handed and read; tell a sender what became of a message."""

    _pushed: list[tuple[str, int]] | None = None
    _pushed_flush: threading.Timer | None = None
    _pushed_lock: Final = threading.Lock()

    def note_pushed(self, client_id: str, message_id: int) -> None:
        """``message_id`` was pushed to a live connection of ``client_id`` (on the loop thread:
        noted in memory, written within :data:`PUSHED_FLUSH_S`)."""
        with self._pushed_lock:
            if self._pushed is None:
                self._pushed = []
            self._pushed.append((client_id, message_id))
            if self._pushed_flush is None:
                # A copy of this context: it says which relay's database the models use.
                flush = threading.Timer(
                    PUSHED_FLUSH_S, contextvars.copy_context().run, (self._flush_on_timer,)
                )
                flush.daemon = True
                self._pushed_flush = flush
                flush.start()

    def flush_pushed(self) -> None:
        """Write the pushes noted in memory as deliveries, in one statement.

        Bookkeeping only: on a full disk they are dropped (and logged); the next read records
        the messages as delivered anyway.
        """
        with self._pushed_lock:
            pairs, self._pushed = self._pushed, None
            timer, self._pushed_flush = self._pushed_flush, None
        if timer is not None:
            timer.cancel()
        if not pairs:
            return
        try:
            self.storage.write(partial(deliveries.mark_delivered, pairs, self.delivery_clock()))
        except QuotaExceeded as exc:
            log.warning("%d pushes not recorded as delivered: %s", len(pairs), exc)

    def _flush_on_timer(self) -> None:
        try:
            self.flush_pushed()
        except Exception:  # a timer thread: nobody else would hear of it
            log.exception("pushes not recorded as delivered")
        finally:
            self.storage.close_thread()

    def record_delivered(self, caller: str, shown: Sequence[Message]) -> None:
        """Record the messages from others in ``shown`` as handed to ``caller`` now (skipped, and
        logged, when the disk is full: reads keep working)."""
        pairs = [(caller, message.id) for message in shown if message.sender != caller]
        if not pairs:
            return
        try:
            self.storage.write(partial(deliveries.mark_delivered, pairs, self.delivery_clock()))
        except QuotaExceeded as exc:  # bookkeeping: a full disk must not stop reads
            log.warning("%d messages not recorded as delivered to %s: %s", len(pairs), caller, exc)

    def message_status(self, caller: str, message_id: int) -> MessageStatus:
        """Each recipient's state of a message: all of them for its sender, else the caller's.

        Raises:
            NotFound: no such message, or the caller may not read it, or it is not the sender's
                or one of its recipients' (the three are not told apart).
        """
        bounds.message_id(message_id, "message id")
        self.flush_pushed()
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

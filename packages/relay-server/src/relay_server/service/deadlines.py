"""Deadlines of messages: a reply-by time and an expiry, each answered with a bounce.

When a message's reply-by time passes, its sender gets a message from the relay (sender
:data:`~relay_core.wire.RELAY_SENDER`, addressed to the sender alone, a reply to the message)
naming the recipients that have not read it. When it expires unread by all, its sender is told
the same way. A bounce is a message like any other: it wakes a waiting sender and is pushed.

No thread polls. Deadlines are acted on lazily, by sends, reads, waits and status asks that find
the earliest one passed (known in memory: no query when none is due), and by one timer armed for
the earliest deadline, so a sender that only waits still hears in time. Each deadline is acted
on once, also with several relay processes: moving it is a compare-and-set in the transaction
that stores the bounce.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Sequence
from typing import Final

from relay_core import Message, from_ms
from relay_core.wire import RELAY_SENDER
from relay_server.events import Posted
from relay_server.service.deliveries import DeliveriesFeature, read_at
from relay_server.storage import clients, deliveries, messages
from relay_server.storage.models import Message as MessageRow

log = logging.getLogger(__name__)

_UNKNOWN: Final = -1
"""The earliest deadline before it was read from the store."""


class DeadlinesFeature(DeliveriesFeature):
    """Act on reply-by times and expiries when they pass."""

    _next_due: int | None = _UNKNOWN
    _due_timer: threading.Timer | None = None
    _due_timer_at: int | None = None
    _stops_on_close = False

    def schedule_due(self, due_ms: int) -> None:
        """A message with a deadline at ``due_ms`` was stored: act on it then."""
        with self._due_lock:
            known = self._next_due
            if known != _UNKNOWN and (known is None or due_ms < known):
                self._next_due = due_ms
            self._arm(due_ms)

    def has_due_work(self) -> bool:
        """Whether :meth:`settle_due` would do more than look (a query, a bounce, a timer to
        arm); without it, a send from an event loop need not call it."""
        due = self._next_due
        if due == _UNKNOWN:
            return True
        return due is not None and (due <= self.delivery_clock() or self._due_timer is None)

    def settle_due(self) -> None:
        """Act on every deadline that has passed (cheap when none has: no query)."""
        due = self._next_due
        if due == _UNKNOWN:
            due = self._next_due = deliveries.next_due()
        if due is None:
            return
        if due > self.delivery_clock():
            if self._due_timer is None:  # e.g. a timer that fired a moment early
                with self._due_lock:
                    self._arm(due)
            return
        now = self.delivery_clock()
        self.storage.write(lambda: self._act_on_due(now), then=self._publish_all)
        following = deliveries.next_due()
        with self._due_lock:
            self._next_due = following
            if following is not None:
                self._arm(following)

    def _publish_all(self, events: list[Posted]) -> None:
        for event in events:
            self.hub.publish(event)

    def _act_on_due(self, now: int) -> list[Posted]:
        """Inside the write: each deadline passed at ``now``, moved on, and its bounce."""
        events = []
        for row in deliveries.due_messages(now):
            text = self._bounce_text(row, now)
            if text is not None:
                events.append(self._bounce(row, text, now))
        return events

    def _bounce_text(self, row: MessageRow, now: int) -> str | None:
        """Move the message's deadline on; the text of its bounce, if one is due."""
        due = row.due_ms
        assert due is not None  # due_messages selects only these
        reply_due = row.reply_by_ms == due
        expired = row.expires_ms is not None and row.expires_ms <= now
        following = None if expired or row.expires_ms == due else row.expires_ms
        if not deliveries.move_due(row.id, due, following):
            return None  # another writer acted on it
        recipients = sorted(set(deliveries.recipients(row)) - {row.sender_id})
        handed = deliveries.handovers(row.id)
        positions = deliveries.read_positions(row.session_id, recipients)
        unread = [c for c in recipients if not read_at(row, handed.get(c), positions.get(c, 0))[0]]
        if expired and recipients and len(unread) == len(recipients):
            when = from_ms(row.expires_ms or now)
            return (
                f"Message #{row.id} expired at {when:%Y-%m-%d %H:%M:%S}Z unread: nobody read it"
                f" ({_names(unread)})."
            )
        if reply_due and unread:
            when = from_ms(row.reply_by_ms or now)
            return (
                f"Message #{row.id} was not read by its reply-by time "
                f"({when:%Y-%m-%d %H:%M:%S}Z) by: {_names(unread)}."
            )
        return None

    def _bounce(self, row: MessageRow, text: str, now: int) -> Posted:
        """Store a bounce of ``row`` to its sender, from the relay; its event."""
        clients.ensure_clients([RELAY_SENDER], now)
        sender = row.sender_id
        bounce_id = messages.add_message(
            row.session_id,
            RELAY_SENDER,
            text=text,
            reply_to=row.id,
            recipients=[sender],
            attachments=[],
            stamp=now,
        )
        session: str = row.session.name
        message = Message(
            id=bounce_id,
            session=session,
            sender=RELAY_SENDER,
            to=[sender],
            reply_to=row.id,
            text=text,
            created_at=from_ms(now),
        )
        return Posted(bounce_id, session, RELAY_SENDER, frozenset({sender}), message)

    def stop_due_timer(self) -> None:
        """Cancel the timer (the relay is shutting down; reads act on deadlines after a start)."""
        with self._due_lock:
            timer, self._due_timer, self._due_timer_at = self._due_timer, None, None
        if timer is not None:
            timer.cancel()

    def _arm(self, due_ms: int) -> None:
        """Have the one timer fire at ``due_ms`` unless it fires earlier (hold the lock)."""
        if self.hub.closed:
            return
        if not self._stops_on_close:
            self._stops_on_close = True
            self.hub.on_close(self.stop_due_timer)
        if self._due_timer is not None and self._due_timer_at is not None:
            if self._due_timer_at <= due_ms and self._due_timer.is_alive():
                return
            self._due_timer.cancel()
        delay_s = max(0.0, (due_ms - self.delivery_clock()) / 1000)
        # A copy of this context: it says which relay's database the models use.
        timer = threading.Timer(delay_s, contextvars.copy_context().run, (self._on_timer,))
        timer.daemon = True
        self._due_timer, self._due_timer_at = timer, due_ms
        timer.start()

    def _on_timer(self) -> None:
        with self._due_lock:
            self._due_timer = self._due_timer_at = None
        if self.hub.closed:
            return
        try:
            self.settle_due()
        except Exception:  # a timer thread: nobody else would hear of it
            log.exception("acting on message deadlines failed")
        finally:
            self.storage.close_thread()


def _names(client_ids: Sequence[str]) -> str:
    return ", ".join(client_ids)

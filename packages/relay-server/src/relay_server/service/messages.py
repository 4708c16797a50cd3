"""Messages: posting, reading pages, polling, one message, read positions."""

from __future__ import annotations

import anyio

from relay_core import (
    InvalidInput,
    Message,
    MessagePage,
    ReadPosition,
    SendMessageRequest,
    SentMessage,
    from_ms,
)
from relay_core.wire import DEFAULT_PAGE_SIZE
from relay_server.events import Posted
from relay_server.service import bounds
from relay_server.service.deadlines import DeadlinesFeature
from relay_server.service.files import resolve_attachments
from relay_server.service.oversize import is_oversize, spill_oversize
from relay_server.service.presence import offline_among
from relay_server.service.roles import Addressing
from relay_server.storage import deliveries, messages, roster, sessions
from relay_server.storage.roster import Roster


class MessagesFeature(DeadlinesFeature):
    """Post and read messages, and move read positions (recording deliveries and reads)."""

    def post_message(self, caller: str, name: str, request: SendMessageRequest) -> SentMessage:
        """Store a message from the caller, then wake its recipients.

        The write shares its transaction and fsync with concurrent sends (group commit); this
        returns once the commit that holds the message is durable.

        Raises:
            NotFound: no such session, or ``reply_to`` is not a message the caller can read.
            Forbidden: the caller is not a participant.
            Conflict: the session is closed.
            InvalidInput: a recipient is not a participant, an attachment is not uploaded, or
                the reply-by time is after the expiry.
            TooLarge: the text is over the relay's inline upload limit.
        """
        stamp = self.delivery_clock()
        send = _Send(self, caller, name, request, stamp)  # bad deadlines: refused here
        self.settle_due()
        send.request = self._spill_oversize(caller, name, request, stamp)
        # The event leaves after the commit, in commit order, carrying the message itself.
        return send.answer(self.storage.write(send.store, then=send.publish))

    async def send_message(
        self, caller: str, name: str, request: SendMessageRequest
    ) -> SentMessage:
        """:meth:`post_message` for an event loop, which it never blocks: the write waits for
        its commit in the group commit's writer thread. A send with work to do before its write
        (an oversize text to store, deadlines passed) runs in a worker thread instead."""
        if is_oversize(request) or self.has_due_work():
            return await anyio.to_thread.run_sync(self.post_message, caller, name, request)
        send = _Send(self, caller, name, request, self.delivery_clock())
        return send.answer(await self.storage.write_async(send.store, then=send.publish))

    def _spill_oversize(
        self, caller: str, name: str, request: SendMessageRequest, stamp: int
    ) -> SendMessageRequest:
        """``request``, its text stored as an attachment when it is oversize; a stranger is
        refused before its text reaches the blob store."""
        if not is_oversize(request):
            return request
        roster.roster(name).member(caller).open()
        return spill_oversize(self, caller, request, stamp)

    def read_messages(
        self,
        caller: str,
        name: str,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        mark_read: bool = False,
        record: bool = True,
    ) -> MessagePage:
        """A page of the session's messages the caller can read, in id order.

        With no ``after_id`` the page starts at the caller's read position. ``mark_read`` moves
        that position to the end of the page. The page counts as delivered to the caller unless
        ``record`` is False (an adapter that shows only part of it records that part itself).
        """
        bounds.page_limit(limit)
        bounds.after(after_id)
        self.settle_due()
        session = roster.roster(name).member(caller)
        start = sessions.read_position(session, caller) if after_id is None else after_id
        now = self.delivery_clock()
        page = messages.session_page(caller, session.session_id, start, limit, now)
        if mark_read and page.messages:
            self._advance_read(session, caller, page.messages[-1].id)
        elif record:
            self.record_delivered(caller, page.messages)
        return page

    def poll(
        self,
        caller: str,
        name: str | None = None,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        record: bool = True,
    ) -> MessagePage:
        """Messages from others the caller has not seen: one page, without waiting.

        In one session (``name``) or all of the caller's sessions; after ``after_id`` (ids are
        global) or, without it, after the caller's read position in each session. The page
        counts as delivered unless ``record`` is False.
        """
        bounds.page_limit(limit)
        bounds.after(after_id)
        self.settle_due()
        now = self.delivery_clock()
        if name is None:
            page = messages.unseen_everywhere(caller, after_id, limit, now)
        else:
            session = roster.roster(name).member(caller)
            start = sessions.read_position(session, caller) if after_id is None else after_id
            page = messages.unseen_in_session(caller, session.session_id, start, limit, now)
        if record:
            self.record_delivered(caller, page.messages)
        return page

    def latest_message_id(self) -> int:
        """The newest message id in the relay (0 when empty)."""
        return messages.latest_message_id()

    def get_message(self, caller: str, message_id: int) -> Message:
        """One message the caller can read.

        Raises:
            NotFound: no such message, or the caller may not read it.
        """
        checked = bounds.message_id(message_id, "message id")
        return messages.get_message(caller, checked, now=self.delivery_clock())

    def mark_read(self, caller: str, name: str, up_to_id: int) -> ReadPosition:
        """Move the caller's read position forward to ``up_to_id`` (never backward)."""
        bounds.message_id(up_to_id, "up_to_id")
        session = roster.roster(name).member(caller)
        self._advance_read(session, caller, up_to_id)
        last_read_id = sessions.read_position(session, caller)
        now = self.delivery_clock()
        _, unread = messages.counts(session.session_id, caller, last_read_id, now)
        return ReadPosition(session=name, last_read_id=last_read_id, unread=unread)

    def _advance_read(self, session: Roster, caller: str, up_to_id: int) -> None:
        """Move the read position forward, recording as read (now) what it passes."""
        stamp = self.delivery_clock()
        handed = self.take_handed()  # written first: a delivery time is never a read time

        def advance() -> None:
            deliveries.mark_delivered(handed)
            before = sessions.read_position(session, caller)
            if up_to_id > before:
                sessions.advance_read(session.session_id, caller, up_to_id)
                deliveries.mark_read(session.session_id, caller, before, up_to_id, stamp)

        try:
            self.storage.write(advance)
        except Exception:
            self.note_handed(handed)  # kept for the next flush
            raise


class _Send:
    """One send: its write (run in the transaction), its wake-up, and its answer."""

    def __init__(
        self,
        service: MessagesFeature,
        caller: str,
        name: str,
        request: SendMessageRequest,
        stamp: int,
    ) -> None:
        self.service, self.caller, self.name, self.request = service, caller, name, request
        self.stamp = stamp
        self.times = bounds.deadlines(stamp, request.reply_by_s, request.ttl_s)
        self.held: list[str] = []
        """Roles nobody holds, found inside the transaction."""
        self.offline: list[str] = []
        """Recipients offline now, found inside the transaction (a query only when memory
        does not know: see :mod:`relay_server.service.last_seen`)."""

    def store(self) -> Posted:
        """Inside the write: check the send and store the message; its event."""
        caller, name, request = self.caller, self.name, self.request
        session = roster.roster(name).member(caller).open()
        addressing = Addressing.of(session.session_id, request.to)
        strangers = [c for c in addressing.clients if c not in session.members]
        if strangers:
            raise InvalidInput(
                f"{strangers[0]!r} is not a participant of session {name!r}; invite it first"
            )
        if request.reply_to is not None:
            messages.visible_message(caller, request.reply_to, session_id=session.session_id)
        attachments = resolve_attachments(self.service.blobs, caller, request)
        message_id = messages.add_message(
            session.session_id,
            caller,
            text=request.text,
            reply_to=request.reply_to,
            recipients=addressing.clients,
            attachments=attachments,
            stamp=self.stamp,
            to_roles=bool(addressing.roles),
            deadlines=self.times,
        )
        addressing.record(message_id)
        self.held[:] = addressing.held
        readers = frozenset(addressing.readers(set(session.members)) - {caller})
        self.offline = offline_among(self.service, readers)
        message = request.stored(message_id, name, caller, attachments, from_ms(self.stamp))
        return Posted(message_id, name, caller, readers, message)

    def publish(self, posted: Posted) -> None:
        """After the commit, in commit order: wake the recipients."""
        self.service.hub.publish(posted)

    def answer(self, posted: Posted) -> SentMessage:
        """The sender's answer, once the message is durable."""
        if self.times.due_ms is not None:
            self.service.schedule_due(self.times.due_ms)
        return SentMessage(
            id=posted.message_id,
            session=self.name,
            created_at=from_ms(self.stamp),
            held_for=self.held,
            offline=self.offline,
        )

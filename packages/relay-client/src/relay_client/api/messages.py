"""Messages: reading (long polls included), sending, read positions, delivery state, search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from relay_client.api.connection import Connection, body_of, query_params
from relay_client.transport import message_body
from relay_core import (
    MarkReadRequest,
    Message,
    MessagePage,
    ReadPosition,
    SendMessageRequest,
    SentMessage,
    wire,
)
from relay_core.delivery import MessageStatus
from relay_core.search import SEARCH_PATH, SearchResults


class MessagesMixin(Connection):
    """A session's ``messages`` and ``read``, ``/api/v1/messages/{id}``, and search."""

    def read_messages(
        self,
        session: str,
        *,
        after: int | None = None,
        limit: int | None = None,
        wait_s: float | None = None,
    ) -> MessagePage:
        """A page of messages after ``after`` (else after our read position on the relay).

        With ``wait_s``, an empty page is held by the relay until a message arrives or the wait
        ends (``timed_out``). Reading never moves the read position.
        """
        params = query_params(after=after, limit=limit, wait=wait_s)
        response = self._request(
            "GET",
            wire.session_messages_path(session),
            params=params,
            read_timeout_s=self._long_poll_timeout(wait_s),
        )
        return self._model(MessagePage, response)

    def send_message(
        self,
        session: str,
        text: str,
        *,
        to: Sequence[str] = (),
        reply_to: int | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        deadlines: Mapping[str, float | None] | None = None,
    ) -> SentMessage:
        """Post a message (sent once, never retried: a retry could post it twice).

        ``deadlines``: ``reply_by_s`` (a bounce names who has not read it by then) and
        ``ttl_s`` (it expires for those who have not read it).

        Raises:
            TooLarge: the text is over the relay's limit (checked before sending).
        """
        fields = message_body(text, to, reply_to, attachments, deadlines)
        body = body_of(SendMessageRequest, **fields)
        response = self._request("POST", wire.session_messages_path(session), json=body)
        return self._model(SentMessage, response)

    def mark_read(self, session: str, up_to_id: int) -> ReadPosition:
        """Move our read position on the relay (what ``unread`` counts from)."""
        body = body_of(MarkReadRequest, up_to_id=up_to_id)
        response = self._request("POST", wire.session_read_path(session), json=body)
        return self._model(ReadPosition, response)

    def get_message(self, message_id: int) -> Message:
        """One message we can read, by id."""
        return self._model(Message, self._request("GET", wire.message_path(message_id)))

    def message_status(self, message_id: int) -> MessageStatus:
        """Each recipient's state of a message we sent (or our own state of one sent to us)."""
        response = self._request("GET", wire.message_status_path(message_id))
        return self._model(MessageStatus, response)

    def search(
        self,
        query: str,
        *,
        session: str | None = None,
        sender: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> SearchResults:
        """The messages we may read that match ``query``, best first (see relay_core.search)."""
        params = {"q": query}
        if session is not None:
            params["session"] = session
        if sender is not None:
            params["sender"] = sender
        if since is not None:
            params["since"] = since.isoformat()
        if limit is not None:
            params["limit"] = str(limit)
        return self._model(SearchResults, self._request("GET", SEARCH_PATH, params=params))

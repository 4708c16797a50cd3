"""Search: the messages a caller may read that match a full-text query, best first."""

from __future__ import annotations

from datetime import datetime

from relay_core import InvalidInput, to_ms
from relay_core.names import validate_client_id
from relay_core.search import (
    DEFAULT_SEARCH_LIMIT,
    MAX_QUERY_CHARS,
    MAX_SEARCH_LIMIT,
    SearchResults,
)
from relay_server.service.base import ServiceBase
from relay_server.storage import search, sessions


class SearchFeature(ServiceBase):
    """Full-text search over the caller's readable messages."""

    def search_messages(
        self,
        caller: str,
        query: str,
        *,
        session: str | None = None,
        sender: str | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_SEARCH_LIMIT,
    ) -> SearchResults:
        """Messages the caller may read whose text or attachment names match ``query``.

        Only sessions the caller belongs to are searched (``session`` narrows to one), and in
        them only what a read would show it: narrowed messages to others never match.

        Raises:
            InvalidInput: an empty or too long query, one the index cannot parse, a bad
                ``sender``, ``since`` without a time zone, or ``limit`` out of range.
            NotFound, Forbidden: ``session`` does not exist, or the caller is not in it.
        """
        query = _checked_query(query)
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_SEARCH_LIMIT}, got {limit}")
        if sender is not None:
            validate_client_id(sender)
        if since is not None and since.tzinfo is None:
            raise InvalidInput("since must carry a time zone, e.g. 2026-12-01T09:00:00Z")
        session_id = None
        if session is not None:
            row = sessions.session_row(session)
            sessions.membership(row, caller)
            session_id = row.id
        where = search.SearchFilter(
            session_id=session_id,
            sender=sender,
            since_ms=None if since is None else to_ms(since),
        )
        hits, more = search.search_messages(caller, query, where, limit)
        return SearchResults(query=query, hits=hits, more=more)


def _checked_query(query: str) -> str:
    stripped = query.strip()
    if not stripped:
        raise InvalidInput("query must not be empty")
    if len(stripped) > MAX_QUERY_CHARS:
        raise InvalidInput(f"query must be at most {MAX_QUERY_CHARS} characters")
    if "\x00" in stripped:
        raise InvalidInput("query must not contain NUL characters")
    return stripped

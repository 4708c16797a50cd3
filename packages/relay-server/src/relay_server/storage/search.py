"""Full-text search over the messages a caller may read, best match first.

The backend's index (FTS5 on SQLite) finds the matching messages and ranks them; this module
keeps only those :func:`~relay_server.storage.messages.visible_in_sessions` lets the caller
read, the one place visibility lives, so a search never shows what a read would not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from peewee import SQL, fn

from relay_core import from_ms
from relay_core.search import SearchHit
from relay_server.storage.messages import visible_in_sessions
from relay_server.storage.models import Message as MessageRow
from relay_server.storage.models import Session, dialect

_EXCERPT_CHARS = 120


@dataclass(frozen=True)
class SearchFilter:
    """Where to look: one session (by id), one sender, messages stored since a time."""

    session_id: int | None = None
    sender: str | None = None
    since_ms: int | None = None


def search_messages(
    caller: str, query: str, where: SearchFilter, limit: int
) -> tuple[list[SearchHit], bool]:
    """Up to ``limit`` of the caller's readable messages matching ``query``, best first, and
    whether more match.

    Raises:
        InvalidInput: the query is not valid in the backend's query syntax.
    """
    backend = dialect()
    hits = backend.text_hits(query).alias("hits")
    rank = fn.MIN(hits.c.rank)
    rows = (
        visible_in_sessions(caller)
        .select(
            MessageRow.id,
            MessageRow.sender,
            MessageRow.text,
            MessageRow.created_ms,
            Session.name.alias("session_name"),
            rank.alias("rank"),
            fn.MAX(hits.c.snippet).alias("snippet"),
            fn.MIN(hits.c.file).alias("file"),
        )
        .join_from(MessageRow, Session, on=(Session.id == MessageRow.session))
        .join_from(MessageRow, hits, on=(hits.c.message_id == MessageRow.id))
        .where(*_filters(where))
        .group_by(MessageRow.id, Session.name)
        .order_by(SQL("rank"), MessageRow.id.desc())
        .limit(limit + 1)
        .dicts()
    )
    try:
        found = cast("list[dict[str, Any]]", list(rows))
    except Exception as error:
        problem = backend.query_problem(error)
        if problem is None:
            raise
        raise problem from None
    return [_hit(row) for row in found[:limit]], len(found) > limit


def _filters(where: SearchFilter) -> list[object]:
    conditions: list[object] = []
    if where.session_id is not None:
        conditions.append(MessageRow.session == where.session_id)
    if where.sender is not None:
        conditions.append(MessageRow.sender == where.sender)
    if where.since_ms is not None:
        conditions.append(MessageRow.created_ms >= where.since_ms)
    return conditions


def _hit(row: dict[str, Any]) -> SearchHit:
    return SearchHit(
        id=row["id"],
        session=row["session_name"],
        sender=row["sender"],
        created_at=from_ms(row["created_ms"]),
        snippet=row["snippet"] or _excerpt(row["text"]),
        file=row["file"],
    )


def _excerpt(text: str) -> str:
    """The start of a text, for a message found by its attachment's name."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[: _EXCERPT_CHARS - 1] + "…"

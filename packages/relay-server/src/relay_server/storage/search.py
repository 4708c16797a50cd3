"""Full-text search over the messages a caller may read, best match first.

A common word matches a large part of the store, and a page shows about twenty of them, so the
search works in three steps, each on as few rows as it can:

1. The backend's index (FTS5 on SQLite, GIN on PostgreSQL) ranks the matches of the message
   texts and of the attachment names by itself, without reading the messages, and hands them
   over best first; the two rankings are merged, each message once, at its best rank.
2. The best of them are checked a batch at a time against
   :func:`~relay_server.storage.messages.visible_in_sessions`, the one place visibility lives (so
   a search never shows what a read would not), and the search's filters, until the page and
   one more are found or the matches run out.
3. Snippets and matching file names are made for the page's hits only.

The answer is the one a single statement joining every match to the visibility rules gives (a
test pins it). The steps are separate statements: a message committed while a search reads its
second batch may shift the ranks a little (bm25 counts the whole index), and then that page can
differ slightly (a match ordered or left out otherwise) from either moment's single statement;
a hit never shows twice.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Final, cast

from peewee import SelectBase

from relay_core import from_ms
from relay_core.search import SearchHit
from relay_server.storage.dialect import Dialect, execute_sql
from relay_server.storage.messages import visible_in_sessions
from relay_server.storage.models import Message as MessageRow
from relay_server.storage.models import Session, current, dialect

_EXCERPT_CHARS = 120
_GROWTH: Final = 8
"""How much larger each batch of candidates is than the one before."""


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
    try:
        found = _readable_best(caller, backend, query, where, limit + 1)
        page = found[:limit]
        ids = [row["id"] for row in page]
        index = backend.text_index
        snippets = dict(_pairs(index.text_snippets(query, ids))) if ids else {}
        files = dict(_pairs(index.first_names(query, ids))) if ids else {}
    except Exception as error:
        problem = backend.query_problem(error)
        if problem is None:
            raise
        raise problem from None
    hits = [_hit(row, snippets.get(row["id"]), files.get(row["id"])) for row in page]
    return hits, len(found) > limit


def _readable_best(
    caller: str, backend: Dialect, query: str, where: SearchFilter, wanted: int
) -> list[dict[str, Any]]:
    """The first ``wanted`` matches the caller may read and ``where`` lets through, in rank
    order: the index's best matches, checked a batch at a time, each batch larger than the last,
    until enough pass or the matches run out."""
    found: list[dict[str, Any]] = []
    size = 2 * wanted
    texts = contextlib.closing(_ranked(backend.text_index.text_ranks(query), size))
    names = contextlib.closing(_ranked(backend.text_index.name_ranks(query), size))
    with texts as text_matches, names as name_matches:
        candidates = _best_first(text_matches, name_matches)
        while len(found) < wanted:
            batch = list(itertools.islice(candidates, size))
            if not batch:
                break
            readable = {row["id"]: row for row in _readable(caller, backend, where, batch)}
            found.extend(readable[message_id] for message_id in batch if message_id in readable)
            size *= _GROWTH
    return found[:wanted]


def _best_first(
    texts: Iterator[tuple[int, float]], names: Iterator[tuple[int, float]]
) -> Iterator[int]:
    """Ids of the messages whose text or an attachment's name matches, best first, each once:
    a message ranks by its best match, equal ranks newest first."""
    seen: set[int] = set()
    for message_id, _ in heapq.merge(texts, names, key=_order):
        if message_id not in seen:
            seen.add(message_id)
            yield message_id


def _order(ranked: tuple[int, float]) -> tuple[float, int]:
    message_id, rank = ranked
    return rank, -message_id


def _ranked(query: SelectBase, first: int) -> Generator[tuple[int, float], None, None]:
    """The rows of a ranked query as they are wanted: the best ``first`` (while it ranks, the
    database keeps only those), then the rest from one more statement, read a batch at a time,
    each larger than the last. Ranking every match is what costs, so it happens at most twice.
    """
    db = current()
    # The driver's own rows: there may be many thousands, and peewee's row objects would cost
    # more than the query.
    sql, params = query.limit(first).sql()
    best = cast("list[tuple[int, float]]", execute_sql(db, sql, params).fetchall())
    yield from best
    if len(best) < first:
        return
    sql, params = query.offset(first).sql()
    rest = execute_sql(db, sql, params)
    try:
        size = first
        while batch := cast("list[tuple[int, float]]", rest.fetchmany(size)):
            yield from batch
            size *= _GROWTH
    finally:
        # On SQLite a statement not read to its end holds this thread's connection in a read
        # transaction: its next reads would not see later commits.
        rest.close()


def _readable(
    caller: str, backend: Dialect, where: SearchFilter, message_ids: list[int]
) -> list[dict[str, Any]]:
    """Those of ``message_ids`` the caller may read (the rules of every read, from
    :func:`visible_in_sessions`) and ``where`` lets through, with what a hit shows."""
    rows = (
        visible_in_sessions(caller)
        .select(
            MessageRow.id,
            MessageRow.sender,
            MessageRow.text,
            MessageRow.created_ms,
            Session.name.alias("session_name"),
        )
        .join_from(MessageRow, Session, on=(Session.id == MessageRow.session))
        .where(backend.in_list(MessageRow.id, message_ids), *_filters(where))
        .dicts()
    )
    return cast("list[dict[str, Any]]", list(rows))


def _pairs(query: SelectBase) -> list[tuple[int, str]]:
    return cast("list[tuple[int, str]]", list(query.tuples()))


def _filters(where: SearchFilter) -> list[object]:
    conditions: list[object] = []
    if where.session_id is not None:
        conditions.append(MessageRow.session == where.session_id)
    if where.sender is not None:
        conditions.append(MessageRow.sender == where.sender)
    if where.since_ms is not None:
        conditions.append(MessageRow.created_ms >= where.since_ms)
    return conditions


def _hit(row: dict[str, Any], snippet: str | None, file: str | None) -> SearchHit:
    return SearchHit(
        id=row["id"],
        session=row["session_name"],
        sender=row["sender"],
        created_at=from_ms(row["created_ms"]),
        snippet=snippet or _excerpt(row["text"]),
        file=file,
    )


def _excerpt(text: str) -> str:
    """The start of a text, for a message found by its attachment's name."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[: _EXCERPT_CHARS - 1] + "…"

"""Full-text search on PostgreSQL: expression GIN indexes, ``websearch_to_tsquery``, ``ts_rank``.

The indexes are over ``to_tsvector('simple', ...)`` of the message text and the attachment name
(no stemming, no stop words: agents write code, paths and names as much as prose), and the
queries use the very same expression, so PostgreSQL keeps them in step by itself and uses them.
``websearch_to_tsquery`` takes what people type (words, ``"a phrase"``, ``or``, ``-word``) and
never fails on syntax. A rank here is ``-ts_rank``: lower is better, as with SQLite's bm25.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from peewee import SQL, ColumnBase, Database, Function, NodeList, SelectBase, fn

from relay_core.search import HIT_CLOSE, HIT_OPEN
from relay_server.storage.dialect import execute_sql
from relay_server.storage.models import Attachment, Message, dialect

_CONFIG: Final = "simple"
_HEADLINE: Final = f"StartSel={HIT_OPEN}, StopSel={HIT_CLOSE}, MaxWords=16, MinWords=6"
_INDEXES: Final = {
    "message_text_search": ("message", "text"),
    "attachment_name_search": ("attachment", "filename"),
}


def create_text_index(db: Database) -> None:
    """The GIN indexes the search's expressions use."""
    for index, (table, column) in _INDEXES.items():
        execute_sql(
            db,
            f"CREATE INDEX IF NOT EXISTS {index} ON {table}"
            f" USING GIN (to_tsvector('{_CONFIG}', {column}))",
        )


def _vector(column: object) -> Function:
    return fn.to_tsvector(SQL(f"'{_CONFIG}'"), column)


def _wanted(query: str) -> Function:
    return fn.websearch_to_tsquery(SQL(f"'{_CONFIG}'"), query)


def _matches(column: object, query: str) -> NodeList:
    """``to_tsvector(column) @@ query``: the very expression the GIN index is on."""
    return NodeList((_vector(column), SQL("@@"), _wanted(query)))


def _rank(column: object, query: str) -> ColumnBase:
    return fn.ts_rank(_vector(column), _wanted(query)) * -1


def text_ranks(query: str) -> SelectBase:
    """``(message_id, rank)`` of the messages whose text matches ``query``, best first, equal
    ranks newest first.

    The GIN index finds the matches; ``ts_rank`` reads each matching text to rank it, so this
    costs a pass over the matches, but no headline: those are made for the page's hits only.
    """
    rank = _rank(Message.text, query).alias("rank")
    ranked: SelectBase = (
        Message.select(Message.id.alias("message_id"), rank)
        .where(_matches(Message.text, query))
        .order_by(SQL("rank"), Message.id.desc())
    )
    return ranked


def name_ranks(query: str) -> SelectBase:
    """``(message_id, rank)`` of the attachments whose name matches ``query``, best first, equal
    ranks newest message first."""
    rank = _rank(Attachment.filename, query).alias("rank")
    ranked: SelectBase = (
        Attachment.select(Attachment.message.alias("message_id"), rank)
        .where(_matches(Attachment.filename, query))
        .order_by(SQL("rank"), Attachment.message.desc(), Attachment.id)
    )
    return ranked


def text_snippets(query: str, message_ids: Sequence[int]) -> SelectBase:
    """``(message_id, snippet)`` of those of ``message_ids`` whose text matches ``query``."""
    headline = fn.ts_headline(SQL(f"'{_CONFIG}'"), Message.text, _wanted(query), _HEADLINE)
    found: SelectBase = Message.select(Message.id.alias("message_id"), headline).where(
        dialect().in_list(Message.id, message_ids) & _matches(Message.text, query)
    )
    return found


def first_names(query: str, message_ids: Sequence[int]) -> SelectBase:
    """``(message_id, file)`` of those of ``message_ids`` with an attachment whose name matches
    ``query``: the least such name."""
    found: SelectBase = (
        Attachment.select(Attachment.message.alias("message_id"), fn.MIN(Attachment.filename))
        .where(
            dialect().in_list(Attachment.message, message_ids)
            & _matches(Attachment.filename, query)
        )
        .group_by(Attachment.message)
    )
    return found

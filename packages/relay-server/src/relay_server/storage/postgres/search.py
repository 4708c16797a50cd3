"""Full-text search on PostgreSQL: expression GIN indexes, ``websearch_to_tsquery``, ``ts_rank``.

The indexes are over ``to_tsvector('simple', ...)`` of the message text and the attachment name
(no stemming, no stop words: agents write code, paths and names as much as prose), and the
queries use the very same expression, so PostgreSQL keeps them in step by itself and uses them.
``websearch_to_tsquery`` takes what people type (words, ``"a phrase"``, ``or``, ``-word``) and
never fails on syntax. A rank here is ``-ts_rank``: lower is better, as with SQLite's bm25.
"""

from __future__ import annotations

from typing import Final

from peewee import SQL, Database, Function, NodeList, SelectBase, fn

from relay_core.search import HIT_CLOSE, HIT_OPEN
from relay_server.storage.dialect import execute_sql
from relay_server.storage.models import Attachment, Message

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


def text_hits(query: str) -> SelectBase:
    """``(message_id, rank, snippet, file)`` of the messages whose text or attachment name
    matches ``query``."""
    wanted = fn.websearch_to_tsquery(SQL(f"'{_CONFIG}'"), query)
    in_texts = Message.select(
        Message.id.alias("message_id"),
        (fn.ts_rank(_vector(Message.text), wanted) * -1).alias("rank"),
        fn.ts_headline(SQL(f"'{_CONFIG}'"), Message.text, wanted, _HEADLINE).alias("snippet"),
        SQL("NULL::text").alias("file"),
    ).where(NodeList((_vector(Message.text), SQL("@@"), wanted)))
    in_names = Attachment.select(
        Attachment.message.alias("message_id"),
        (fn.ts_rank(_vector(Attachment.filename), wanted) * -1).alias("rank"),
        SQL("NULL::text").alias("snippet"),
        Attachment.filename.alias("file"),
    ).where(NodeList((_vector(Attachment.filename), SQL("@@"), wanted)))
    hits: SelectBase = in_texts.union_all(in_names)
    return hits

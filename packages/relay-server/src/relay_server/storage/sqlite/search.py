"""Full-text search on SQLite: FTS5 indexes of message texts and attachment names.

Both indexes are *external content* tables (https://sqlite.org/fts5.html#external_content_tables):
they hold only the index, and read the words back from ``message`` and ``attachment`` (for
snippets), so a text is stored once. Triggers keep them in step with every insert and delete in
the same transaction, whoever writes: the storage code never has to remember. Messages are never
edited; a trigger covers an edit anyway.

A table rebuild (:meth:`SqliteDialect.retype_tables`) drops a table's triggers with it: a
migration that rebuilds ``message`` or ``attachment`` must call :func:`create_text_index` again.
"""

from __future__ import annotations

from typing import Final

from peewee import SQL, Column, Database, Expression, OperationalError, SelectBase, Table, fn

from relay_core import InvalidInput
from relay_core.search import HIT_CLOSE, HIT_OPEN
from relay_server.storage.dialect import execute_sql
from relay_server.storage.models import Attachment

_TOKENIZER: Final = "unicode61 remove_diacritics 2"
_SNIPPET_WORDS: Final = 16

_INDEXES: Final = {
    # index: (content table, indexed column)
    "message_text": ("message", "text"),
    "attachment_name": ("attachment", "filename"),
}


def create_text_index(db: Database) -> None:
    """Create the indexes and their triggers, and index the rows already there."""
    for index, (table, column) in _INDEXES.items():
        execute_sql(
            db,
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {index} USING fts5({column},"
            f" content='{table}', content_rowid='id', tokenize='{_TOKENIZER}')",
        )
        add = f"INSERT INTO {index} (rowid, {column}) VALUES (new.id, new.{column});"
        remove = (
            f"INSERT INTO {index} ({index}, rowid, {column})"
            f" VALUES ('delete', old.id, old.{column});"
        )
        for event, body in (
            ("INSERT", add),
            ("DELETE", remove),
            (f"UPDATE OF {column}", remove + add),
        ):
            trigger = f"{index}_after_{event.split()[0].lower()}"
            execute_sql(
                db,
                f"CREATE TRIGGER IF NOT EXISTS {trigger} AFTER {event} ON {table} BEGIN {body} END",
            )
        execute_sql(db, f"INSERT INTO {index} ({index}) VALUES ('rebuild')")


_MESSAGE_TEXT: Final = Table("message_text", ("rowid", "text"))
_ATTACHMENT_NAME: Final = Table("attachment_name", ("rowid", "filename"))


def _matches(index: Table, query: str) -> Expression:
    """``index MATCH query``: FTS5 matches a query against the table's own name."""
    return Expression(SQL(index.__name__), "MATCH", query)


def text_hits(query: str) -> SelectBase:
    """``(message_id, rank, snippet, file)`` for every message whose text or attachment name
    matches ``query``; a lower rank is a better match (FTS5's bm25)."""
    texts, names = _MESSAGE_TEXT, _ATTACHMENT_NAME
    in_texts = texts.select(
        Column(texts, "rowid").alias("message_id"),
        fn.bm25(SQL("message_text")).alias("rank"),
        fn.snippet(SQL("message_text"), 0, HIT_OPEN, HIT_CLOSE, "…", _SNIPPET_WORDS).alias(
            "snippet"
        ),
        SQL("NULL").alias("file"),
    ).where(_matches(texts, query))
    in_names = (
        names.select(
            Attachment.message.alias("message_id"),
            fn.bm25(SQL("attachment_name")).alias("rank"),
            SQL("NULL").alias("snippet"),
            Attachment.filename.alias("file"),
        )
        .join(Attachment, on=(Attachment.id == Column(names, "rowid")))
        .where(_matches(names, query))
    )
    query_: SelectBase = in_texts.union_all(in_names)
    return query_


def query_problem(error: Exception) -> InvalidInput | None:
    """The caller's mistake behind an FTS5 error, or None when the error is not about the query."""
    text = str(error)
    if not isinstance(error, OperationalError):
        return None
    if text.startswith("fts5:") or "no such column" in text or "unterminated string" in text:
        return InvalidInput(
            f'search query: {text}; use words, OR, NOT, "a phrase" or prefix*, and put words'
            " with punctuation in double quotes"
        )
    return None

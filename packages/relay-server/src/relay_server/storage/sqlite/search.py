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

from collections.abc import Sequence
from typing import Final

from peewee import SQL, Column, Database, Expression, OperationalError, SelectBase, Table, fn

from relay_core import InvalidInput
from relay_core.search import HIT_CLOSE, HIT_OPEN
from relay_server.storage.dialect import execute_sql
from relay_server.storage.models import Attachment, database, dialect

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


# Bound to the models' database, so that queries on them run by themselves, not only as parts
# of queries on the models.
_MESSAGE_TEXT: Final = Table("message_text", ("rowid", "text")).bind(database)
_ATTACHMENT_NAME: Final = Table("attachment_name", ("rowid", "filename")).bind(database)


def _matches(index: Table, query: str) -> Expression:
    """``index MATCH query``: FTS5 matches a query against the table's own name."""
    return Expression(SQL(index.__name__), "MATCH", query)


def text_ranks(query: str) -> SelectBase:
    """``(message_id, rank)`` of every message whose text matches ``query``, best first (a
    lower rank is a better match: FTS5's bm25), equal ranks newest first.

    Only the index is read: bm25 needs the words' positions and each text's length, never the
    text itself, and SQLite keeps just the best rows a LIMIT asks for while it sorts.
    """
    texts = _MESSAGE_TEXT
    rowid = Column(texts, "rowid")
    ranked: SelectBase = (
        texts.select(rowid.alias("message_id"), Column(texts, "rank"))
        .where(_matches(texts, query))
        .order_by(Column(texts, "rank"), rowid.desc())
    )
    return ranked


def name_ranks(query: str) -> SelectBase:
    """``(message_id, rank)`` of every attachment whose name matches ``query``, best first, equal
    ranks newest message first; a message with several such attachments comes once for each."""
    names = _ATTACHMENT_NAME
    rank = Column(names, "rank")
    ranked: SelectBase = (
        names.select(Attachment.message.alias("message_id"), rank)
        .join(Attachment, on=(Attachment.id == Column(names, "rowid")))
        .where(_matches(names, query))
        .order_by(rank, Attachment.message.desc(), Attachment.id)
    )
    return ranked


def text_snippets(query: str, message_ids: Sequence[int]) -> SelectBase:
    """``(message_id, snippet)`` of those of ``message_ids`` whose text matches ``query``: where
    it matches, the matched words marked."""
    texts = _MESSAGE_TEXT
    rowid = Column(texts, "rowid")
    snippet = fn.snippet(SQL("message_text"), 0, HIT_OPEN, HIT_CLOSE, "…", _SNIPPET_WORDS)
    found: SelectBase = texts.select(rowid.alias("message_id"), snippet.alias("snippet")).where(
        _matches(texts, query) & dialect().in_list(rowid, message_ids)
    )
    return found


def first_names(query: str, message_ids: Sequence[int]) -> SelectBase:
    """``(message_id, file)`` of those of ``message_ids`` with an attachment whose name matches
    ``query``: the first such name in order."""
    names = _ATTACHMENT_NAME
    found: SelectBase = (
        names.select(Attachment.message.alias("message_id"), fn.MIN(Attachment.filename))
        .join(Attachment, on=(Attachment.id == Column(names, "rowid")))
        .where(_matches(names, query) & dialect().in_list(Attachment.message, message_ids))
        .group_by(Attachment.message)
    )
    return found


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

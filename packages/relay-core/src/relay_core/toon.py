"""TOON text for agents: lists of uniform rows cost fewer tokens than JSON.

We use ``toon-format`` (the official Python port, spec 4.4) rather than ``python-toon``: both give
identical, lossless tabular output on plain data, but python-toon silently encodes a pydantic model
as ``null`` and bytes as their repr, and toon-format is maintained with the spec.

TOON's tabular form needs every row to have the same keys and only scalar values. So rows are
flattened here, deliberately and reversibly:

- a list of names (``to``, ``shared_sessions``) becomes one space-separated string (names never
  contain spaces), and an empty list becomes ``""``;
- a message's attachments go to a second table, ``attachments``, keyed by ``message_id``;
- a name every message of a page shares (``session``, ``sender``) is written once, above the
  table (``session: build``), and its column is left out of the table: a page of one session
  would otherwise repeat the session on every row. Only names are hoisted: a shared ``null``
  ``reply_to`` or empty ``to`` written above the table would read as a fact about the page;
- times are written once in full: ``first_created_at`` above the table is the page's earliest
  ``created_at``, and each row's ``created_after_s`` is its own, in seconds after that (to the
  millisecond, which is all a timestamp holds). A full timestamp costs about 15 tokens and was
  over a third of a page of short messages; an offset costs 1 to 4.

Every optional key is always present (``null``): omitting one drops TOON to its verbose list form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import toon_format
from pydantic import BaseModel, TypeAdapter

from relay_core.errors import InvalidInput
from relay_core.models import Message
from relay_core.search import SearchResults
from relay_core.timestamps import Timestamp, format_timestamp, from_ms, to_ms

M = TypeVar("M", bound=BaseModel)

_NAME_LIST_FIELDS = frozenset({"to", "shared_sessions"})

SHARED_MESSAGE_FIELDS: Final = ("session", "sender")
"""Message columns written once above the table when every message of a page has one value."""
FIRST_CREATED_AT: Final = "first_created_at"
"""Above a page's table: its earliest ``created_at``; rows say how long after it they came."""
CREATED_AFTER_S: Final = "created_after_s"
"""The column that stands for ``created_at``: seconds after :data:`FIRST_CREATED_AT`."""


def encode(value: Any) -> str:
    """Encode JSON-like data (dicts, lists, scalars) as TOON."""
    return toon_format.encode(value)


def decode(text: str) -> Any:
    """Decode TOON text into JSON-like data.

    Raises:
        InvalidInput: the text is not valid TOON.
    """
    try:
        return toon_format.decode(text)
    except toon_format.ToonDecodeError as exc:
        raise InvalidInput(f"not valid TOON: {exc}") from None


def model_row(model: BaseModel) -> dict[str, Any]:
    """One flat table row of a model: JSON mode, name lists joined by spaces."""
    row = model.model_dump(mode="json")
    for key in _NAME_LIST_FIELDS & row.keys():
        row[key] = " ".join(row[key])
    return row


def encode_table(key: str, models: Sequence[BaseModel]) -> str:
    """Encode models of one kind as a single TOON table named ``key``."""
    return encode({key: [model_row(m) for m in models]})


def decode_table(text: str, key: str, model: type[M]) -> list[M]:
    """The inverse of :func:`encode_table`."""
    return [model.model_validate(_unflatten(row)) for row in _rows(decode(text), key)]


def message_data(messages: Sequence[Message], **extra: Any) -> dict[str, Any]:
    """A page of messages as data for TOON: the scalar ``extra`` keys (such as ``has_more``),
    the names all messages share (:data:`SHARED_MESSAGE_FIELDS`), then two tables: ``messages``
    without those columns, and ``attachments`` (with ``message_id``).

    Raises:
        ValueError: an ``extra`` key is also a message field, so it could not be told apart.
    """
    clashes = extra.keys() & Message.model_fields.keys()
    if clashes:
        raise ValueError(f"page keys {sorted(clashes)} are message fields")
    rows, files = [], []
    for message in messages:
        row = model_row(message)
        for attachment in row.pop("attachments"):
            files.append({"message_id": message.id, **attachment})
        rows.append(row)
    shared: dict[str, Any] = {}
    for field in SHARED_MESSAGE_FIELDS:
        values = {row[field] for row in rows}
        if len(values) == 1:
            shared[field] = values.pop()
            for row in rows:
                del row[field]
    if messages:
        stamps = [to_ms(message.created_at) for message in messages]
        first = min(stamps)
        shared[FIRST_CREATED_AT] = format_timestamp(from_ms(first))
        for row, stamp in zip(rows, stamps, strict=True):
            del row["created_at"]
            offset_ms = stamp - first
            row[CREATED_AFTER_S] = offset_ms // 1000 if offset_ms % 1000 == 0 else offset_ms / 1000
    return {**extra, **shared, "messages": rows, "attachments": files}


def encode_messages(messages: Sequence[Message], **extra: Any) -> str:
    """Encode a page of messages (and any scalar ``extra`` keys, such as ``has_more``) as TOON.

    Raises:
        ValueError: an ``extra`` key is also a message field.
    """
    return encode(message_data(messages, **extra))


def decode_messages(text: str) -> list[Message]:
    """The inverse of :func:`encode_messages`.

    Raises:
        InvalidInput: the text is not valid TOON or has no ``messages`` table.
    """
    data = decode(text)
    rows = _rows(data, "messages")
    shared = {field: data[field] for field in SHARED_MESSAGE_FIELDS if field in data}
    files: dict[int, list[dict[str, Any]]] = {}
    for row in _rows(data, "attachments"):
        attachment = dict(row)
        files.setdefault(attachment.pop("message_id"), []).append(attachment)
    first = data.get(FIRST_CREATED_AT)
    start_ms = None if first is None or not rows else to_ms(_TIMESTAMP.validate_python(first))
    return [
        Message.model_validate(
            {
                **shared,
                **_timed(_unflatten(row), start_ms),
                "attachments": files.get(row["id"], []),
            }
        )
        for row in rows
    ]


_TIMESTAMP: Final = TypeAdapter(Timestamp)


def _timed(row: dict[str, Any], start_ms: int | None) -> dict[str, Any]:
    """The row with its ``created_at`` back from its offset after ``start_ms`` (the page's
    ``first_created_at``); a row without one keeps its own.

    Raises:
        InvalidInput: offsets without the time they count from.
    """
    if CREATED_AFTER_S not in row:
        return row
    offset_s = row.pop(CREATED_AFTER_S)
    if start_ms is None:
        raise InvalidInput(f"TOON page has {CREATED_AFTER_S} but no {FIRST_CREATED_AT}")
    row["created_at"] = from_ms(start_ms + round(float(offset_s) * 1000))
    return row


def _rows(data: Any, key: str) -> list[Mapping[str, Any]]:
    rows = data.get(key, []) if isinstance(data, Mapping) else None
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise InvalidInput(f"TOON text has no table {key!r}")
    return rows


def _unflatten(row: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(row)
    for key in _NAME_LIST_FIELDS & result.keys():
        value = result[key]
        result[key] = value.split() if isinstance(value, str) else value
    return result


def encode_search(results: SearchResults) -> str:
    """Search results: the query, whether more match, and one row per hit."""
    return encode(
        {
            "query": results.query,
            "more": results.more,
            "hits": [model_row(hit) for hit in results.hits],
        }
    )


def decode_search(text: str) -> SearchResults:
    """The inverse of :func:`encode_search`."""
    return SearchResults.model_validate(decode(text))

"""TOON text for agents: lists of uniform rows cost fewer tokens than JSON.

We use ``toon-format`` (the official Python port, spec 4.4) rather than ``python-toon``: both give
identical, lossless tabular output on plain data, but python-toon silently encodes a pydantic model
as ``null`` and bytes as their repr, and toon-format is maintained with the spec.

TOON's tabular form needs every row to have the same keys and only scalar values. So rows are
flattened here, deliberately and reversibly:

- a list of names (``to``, ``shared_sessions``) becomes one space-separated string (names never
  contain spaces), and an empty list becomes ``""``;
- a message's attachments go to a second table, ``attachments``, keyed by ``message_id``.

Every optional key is always present (``null``): omitting one drops TOON to its verbose list form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import toon_format
from pydantic import BaseModel

from relay_core.errors import InvalidInput
from relay_core.models import Message

M = TypeVar("M", bound=BaseModel)

_NAME_LIST_FIELDS = frozenset({"to", "shared_sessions"})


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


def message_tables(messages: Sequence[Message]) -> dict[str, list[dict[str, Any]]]:
    """Messages as two tables: ``messages`` and ``attachments`` (with ``message_id``)."""
    rows, files = [], []
    for message in messages:
        row = model_row(message)
        for attachment in row.pop("attachments"):
            files.append({"message_id": message.id, **attachment})
        rows.append(row)
    return {"messages": rows, "attachments": files}


def encode_messages(messages: Sequence[Message], **extra: Any) -> str:
    """Encode messages (and any scalar ``extra`` keys, such as ``has_more``) as TOON."""
    return encode({**extra, **message_tables(messages)})


def decode_messages(text: str) -> list[Message]:
    """The inverse of :func:`encode_messages`."""
    data = decode(text)
    files: dict[int, list[dict[str, Any]]] = {}
    for row in _rows(data, "attachments"):
        attachment = dict(row)
        files.setdefault(attachment.pop("message_id"), []).append(attachment)
    return [
        Message.model_validate({**_unflatten(row), "attachments": files.get(row["id"], [])})
        for row in _rows(data, "messages")
    ]


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

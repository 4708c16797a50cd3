"""m006_search: the full-text index of message texts and attachment names."""

from __future__ import annotations

from peewee import Database

from relay_server.storage.dialect import Dialect


def m006_search(db: Database, dialect: Dialect) -> None:
    """Index every stored message for search; the backend keeps the index in step from now on."""
    dialect.create_text_index(db)

"""m010_notify: on PostgreSQL, triggers that announce messages and roster changes to every relay
on the database (LISTEN/NOTIFY); nothing on SQLite, where one relay process is all there is."""

from __future__ import annotations

from peewee import Database

from relay_server.storage.dialect import Dialect


def m010_notify(db: Database, dialect: Dialect) -> None:
    """Ask the backend to announce each new message and each change of a session's roster."""
    dialect.announce_changes(db)

"""m008_delivery: per recipient, when a message was delivered and read; its deadlines."""

from __future__ import annotations

from peewee import Database

from relay_server.storage.dialect import Dialect, execute_sql

DELIVERY = """
    message_id BIGINT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    delivered_ms BIGINT NOT NULL,
    read_ms BIGINT,
    PRIMARY KEY (message_id, client_id)"""
DEADLINES = ("reply_by_ms", "expires_ms", "due_ms")


def m008_delivery(db: Database, dialect: Dialect) -> None:
    """Delivery rows, written when a message is handed over or read (never on send), and each
    message's optional reply-by and expiry times, with the next one still to act on (indexed
    only where set, so ordinary messages cost the index nothing)."""
    execute_sql(db, f"CREATE TABLE delivery ({DELIVERY})")
    for column in DEADLINES:
        execute_sql(db, f"ALTER TABLE message ADD COLUMN {column} BIGINT")
    execute_sql(db, "CREATE INDEX message_due ON message (due_ms) WHERE due_ms IS NOT NULL")

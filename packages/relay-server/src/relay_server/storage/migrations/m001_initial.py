"""m001_initial: clients, sessions, participants, messages, recipients and attachments."""

from __future__ import annotations

from typing import Final

from peewee import Database

from relay_server.storage.dialect import Dialect, execute_sql

INDEXES: Final = {
    "participant_client": "participant (client_id)",
    "message_session_id": "message (session_id, id)",
    "recipient_client": "recipient (client_id, message_id)",
    "attachment_message": "attachment (message_id, position)",
    "attachment_sha256": "attachment (sha256)",
}
"""The indexes this migration creates: name -> table and columns."""


def tables(dialect: Dialect) -> dict[str, str]:
    """The tables this migration creates: name -> column definitions."""
    return {
        "client": """
            client_id TEXT PRIMARY KEY NOT NULL,
            token_hash TEXT UNIQUE,
            created_ms BIGINT NOT NULL,
            first_seen_ms BIGINT,
            last_seen_ms BIGINT""",
        "session": f"""
            id {dialect.id_key},
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL REFERENCES client (client_id),
            created_ms BIGINT NOT NULL,
            closed_ms BIGINT""",
        "participant": """
            session_id BIGINT NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            client_id TEXT NOT NULL REFERENCES client (client_id),
            joined_ms BIGINT NOT NULL,
            last_read_id BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, client_id)""",
        "message": f"""
            id {dialect.id_key},
            session_id BIGINT NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            sender TEXT NOT NULL REFERENCES client (client_id),
            reply_to BIGINT,
            text TEXT NOT NULL,
            narrowed BOOLEAN NOT NULL DEFAULT FALSE,
            created_ms BIGINT NOT NULL""",
        "recipient": """
            message_id BIGINT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
            client_id TEXT NOT NULL REFERENCES client (client_id),
            PRIMARY KEY (message_id, client_id)""",
        "attachment": f"""
            id {dialect.id_key},
            message_id BIGINT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            filename TEXT NOT NULL,
            size BIGINT NOT NULL,
            mime TEXT""",
    }


def m001_initial(db: Database, dialect: Dialect) -> None:
    """Clients, sessions, participants, messages, recipients and attachments."""
    for name, columns in tables(dialect).items():
        execute_sql(db, f"CREATE TABLE {name} ({columns})")
    for name, on in INDEXES.items():
        execute_sql(db, f"CREATE INDEX {name} ON {on}")

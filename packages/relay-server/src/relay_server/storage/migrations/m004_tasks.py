"""m004_tasks: tasks handed off in a session, and the history of every change to them."""

from __future__ import annotations

from typing import Final

from peewee import Database

from relay_server.storage.dialect import Dialect, execute_sql

INDEXES: Final = {
    "task_session_state": "task (session_id, state)",
    "task_state": "task (state)",
    "task_event_task": "task_event (task_id, id)",
}
"""The indexes this migration creates: name -> table and columns."""


def tables(dialect: Dialect) -> dict[str, str]:
    """The tables this migration creates: name -> column definitions."""
    return {
        "task": f"""
            id {dialect.id_key},
            session_id BIGINT NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            title TEXT NOT NULL,
            details TEXT NOT NULL DEFAULT '',
            giver TEXT NOT NULL REFERENCES client (client_id),
            assignee TEXT REFERENCES client (client_id),
            claimed_by TEXT REFERENCES client (client_id),
            state TEXT NOT NULL,
            lease_ms BIGINT,
            renewed_ms BIGINT,
            created_ms BIGINT NOT NULL,
            updated_ms BIGINT NOT NULL""",
        "task_event": f"""
            id {dialect.id_key},
            task_id BIGINT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
            at_ms BIGINT NOT NULL,
            by_client TEXT NOT NULL,
            role TEXT NOT NULL,
            from_state TEXT,
            state TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            message_id BIGINT REFERENCES message (id) ON DELETE SET NULL""",
    }


def m004_tasks(db: Database, dialect: Dialect) -> None:
    """Tasks and their history."""
    for name, columns in tables(dialect).items():
        execute_sql(db, f"CREATE TABLE {name} ({columns})")
    for name, on in INDEXES.items():
        execute_sql(db, f"CREATE INDEX {name} ON {on}")

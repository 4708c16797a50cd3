"""m007_roles: who holds which role of a session, and the messages addressed to roles."""

from __future__ import annotations

from peewee import Database

from relay_server.storage.dialect import Dialect, execute_sql

TABLES = {
    "role_holder": """
        session_id BIGINT NOT NULL REFERENCES session (id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        holder TEXT NOT NULL REFERENCES client (client_id),
        claimed_ms BIGINT NOT NULL,
        PRIMARY KEY (session_id, role)""",
    "message_role": """
        message_id BIGINT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        held BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (message_id, role)""",
}
INDEXES = {
    "role_holder_holder": "role_holder (holder, session_id)",
    "message_role_held": "message_role (role, held)",
}


def m007_roles(db: Database, dialect: Dialect) -> None:
    """Role holders per session, and each role a message was addressed to (``held`` while
    nobody held the role when it was sent, until the next holder claims it)."""
    for name, columns in TABLES.items():
        execute_sql(db, f"CREATE TABLE {name} ({columns})")
    for name, target in INDEXES.items():
        execute_sql(db, f"CREATE INDEX {name} ON {target}")

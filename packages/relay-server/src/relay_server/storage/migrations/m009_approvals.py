"""m009_approvals: client settings, permission prompts relayed to approvers, their history."""

from __future__ import annotations

from typing import Final

from peewee import Database

from relay_server.storage.dialect import Dialect, execute_sql

INDEXES: Final = {
    "approval_requester": "approval (requester, id)",
    "approval_approver_client": "approval_approver (client_id, approval_id)",
    "approval_event_approval": "approval_event (approval_id, id)",
}
"""The indexes this migration creates: name -> table and columns."""


def tables(dialect: Dialect) -> dict[str, str]:
    """The tables this migration creates: name -> column definitions."""
    return {
        "client_setting": """
            client_id TEXT PRIMARY KEY REFERENCES client (client_id) ON DELETE CASCADE,
            approvers TEXT NOT NULL DEFAULT '',
            push_from TEXT""",
        "approval": f"""
            id {dialect.id_key},
            request_id TEXT NOT NULL,
            requester TEXT NOT NULL REFERENCES client (client_id),
            mcp_session TEXT NOT NULL DEFAULT '',
            tool TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            input_preview TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            created_ms BIGINT NOT NULL,
            expires_ms BIGINT NOT NULL,
            decided_by TEXT,
            decided_ms BIGINT,
            note TEXT NOT NULL DEFAULT ''""",
        "approval_approver": """
            approval_id BIGINT NOT NULL REFERENCES approval (id) ON DELETE CASCADE,
            client_id TEXT NOT NULL,
            PRIMARY KEY (approval_id, client_id)""",
        "approval_event": f"""
            id {dialect.id_key},
            approval_id BIGINT NOT NULL REFERENCES approval (id) ON DELETE CASCADE,
            at_ms BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT ''""",
    }


def m009_approvals(db: Database, dialect: Dialect) -> None:
    """Client settings (approvers, push allowlist), approvals, who may answer, their history."""
    for name, columns in tables(dialect).items():
        execute_sql(db, f"CREATE TABLE {name} ({columns})")
    for name, on in INDEXES.items():
        execute_sql(db, f"CREATE INDEX {name} ON {on}")

"""m005_join_codes: one-time join codes, stored by the hash of their secret."""

from __future__ import annotations

from peewee import Database

from relay_server.storage.dialect import Dialect, execute_sql


def tables(dialect: Dialect) -> dict[str, str]:
    """The tables this migration creates: name -> column definitions.

    ``client_id`` is the id the operator fixed (per-client mode), else NULL; ``sealed_token``
    is the shared token encrypted with a key only the code's secret gives (shared mode).
    """
    return {
        "join_code": """
            code_hash VARCHAR(64) NOT NULL PRIMARY KEY,
            client_id VARCHAR(64),
            sealed_token TEXT,
            created_ms BIGINT NOT NULL,
            expires_ms BIGINT NOT NULL,
            used_ms BIGINT,
            used_by VARCHAR(64)""",
    }


def m005_join_codes(db: Database, dialect: Dialect) -> None:
    """Join codes: single use, expiring, stored hashed."""
    for name, columns in tables(dialect).items():
        execute_sql(db, f"CREATE TABLE {name} ({columns})")

"""m002_uploads: which client uploaded which blob, for the download rule."""

from __future__ import annotations

from peewee import Database

from relay_server.storage.dialect import Dialect, execute_sql


def tables(dialect: Dialect) -> dict[str, str]:
    """The tables this migration creates: name -> column definitions."""
    return {
        "upload": """
            sha256 TEXT NOT NULL,
            uploader TEXT NOT NULL REFERENCES client (client_id),
            created_ms BIGINT NOT NULL,
            PRIMARY KEY (sha256, uploader)""",
    }


def m002_uploads(db: Database, dialect: Dialect) -> None:
    """Uploads: which client uploaded which blob, for the download rule."""
    for name, columns in tables(dialect).items():
        execute_sql(db, f"CREATE TABLE {name} ({columns})")

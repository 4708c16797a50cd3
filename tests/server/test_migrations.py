"""Migrations: a relay made by release 0.1.0 (m001 + m002) upgrades in place, losing nothing.

The release's schema is written out below as that release created it, not taken from today's
migrations: those now declare portable types, and the point is to upgrade what exists on disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from relay_core import SendMessageRequest
from relay_server.app import build_service
from relay_server.config import DATABASE_FILE, ServerConfig
from relay_server.storage import files, open_storage
from relay_server.storage.migrations import MIGRATIONS, m008_delivery
from relay_server.storage.sqlite import dialect as sqlite_dialect

RELEASE_0_1_0_SCHEMA = (
    'CREATE TABLE IF NOT EXISTS "applied_migration" '
    '("name" VARCHAR(255) NOT NULL PRIMARY KEY, "applied_ms" INTEGER NOT NULL)',
    """CREATE TABLE client (
            client_id TEXT PRIMARY KEY NOT NULL,
            token_hash TEXT UNIQUE,
            created_ms INTEGER NOT NULL,
            first_seen_ms INTEGER,
            last_seen_ms INTEGER)""",
    """CREATE TABLE session (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL REFERENCES client (client_id),
            created_ms INTEGER NOT NULL,
            closed_ms INTEGER)""",
    """CREATE TABLE participant (
            session_id INTEGER NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            client_id TEXT NOT NULL REFERENCES client (client_id),
            joined_ms INTEGER NOT NULL,
            last_read_id INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, client_id))""",
    "CREATE INDEX participant_client ON participant (client_id)",
    """CREATE TABLE message (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id INTEGER NOT NULL REFERENCES session (id) ON DELETE CASCADE,
            sender TEXT NOT NULL REFERENCES client (client_id),
            reply_to INTEGER,
            text TEXT NOT NULL,
            narrowed INTEGER NOT NULL DEFAULT 0,
            created_ms INTEGER NOT NULL)""",
    "CREATE INDEX message_session_id ON message (session_id, id)",
    """CREATE TABLE recipient (
            message_id INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
            client_id TEXT NOT NULL REFERENCES client (client_id),
            PRIMARY KEY (message_id, client_id))""",
    "CREATE INDEX recipient_client ON recipient (client_id, message_id)",
    """CREATE TABLE attachment (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            filename TEXT NOT NULL,
            size INTEGER NOT NULL,
            mime TEXT)""",
    "CREATE INDEX attachment_message ON attachment (message_id, position)",
    "CREATE INDEX attachment_sha256 ON attachment (sha256)",
    """CREATE TABLE upload (
            sha256 TEXT NOT NULL,
            uploader TEXT NOT NULL REFERENCES client (client_id),
            created_ms INTEGER NOT NULL,
            PRIMARY KEY (sha256, uploader))""",
)
TABLES = ("client", "session", "participant", "message", "recipient", "attachment", "upload")
DIGEST = "ab" * 32
T = 1_790_000_000_000  # ms, past 2**32: times need 64 bits

ROWS = {
    "applied_migration": [("m001_initial", T), ("m002_uploads", T + 1)],
    "client": [
        ("alpha", "a" * 64, T, T + 5, T + 90),
        ("beta", None, T, T + 7, T + 80),
        ("ghost", None, T + 3, None, None),
    ],
    "session": [
        (1, "plans", "what to build", "alpha", T + 10, None),
        (2, "old", "", "beta", T + 11, T + 60),
    ],
    "participant": [
        (1, "alpha", T + 10, 3),
        (1, "beta", T + 10, 0),
        (1, "ghost", T + 12, 0),
        (2, "beta", T + 11, 0),
    ],
    "message": [
        (1, 1, "alpha", None, "hello all", 0, T + 20),
        (2, 1, "beta", 1, "for alpha only", 1, T + 21),
        (3, 1, "alpha", None, "a file", 0, T + 22),
        (4, 2, "beta", None, "closed now", 0, T + 23),
        (5, 1, "alpha", None, "the newest, deleted before the upgrade", 0, T + 24),
    ],
    "recipient": [(2, "alpha")],
    "attachment": [(1, 3, 0, DIGEST, "plan.txt", 5_000_000_000, "text/plain")],
    "upload": [(DIGEST, "alpha", T + 19)],
}


def make_release_relay(data_dir: Path) -> Path:
    """A relay database as release 0.1.0 left it: its schema, its rows, message 5 deleted."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DATABASE_FILE
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA journal_mode = WAL")
    for statement in RELEASE_0_1_0_SCHEMA:
        connection.execute(statement)
    with connection:
        connection.execute("BEGIN")
        for table, rows in ROWS.items():
            marks = ", ".join("?" * len(rows[0]))
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    connection.execute("DELETE FROM message WHERE id = 5")
    connection.close()
    return path


def rows_of(path: Path) -> dict[str, list[tuple[object, ...]]]:
    connection = sqlite3.connect(path)
    try:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in TABLES
        }
    finally:
        connection.close()


def schema_of(path: Path) -> dict[str, object]:
    """Each table's columns (name, declared type, not null, default, pk) and foreign keys, the
    index names, and the id counters."""
    connection = sqlite3.connect(path)
    try:
        return {
            "columns": {
                table: [row[1:] for row in connection.execute(f"PRAGMA table_info({table})")]
                for table in TABLES
            },
            "foreign_keys": {
                table: sorted(
                    row[2:7] for row in connection.execute(f"PRAGMA foreign_key_list({table})")
                )
                for table in TABLES
            },
            "indexes": sorted(  # of the release's tables: later migrations add their own
                row[0]
                for row in connection.execute(
                    "SELECT name, tbl_name FROM sqlite_master WHERE type='index'"
                )
                if row[1] in TABLES  # later migrations add tables of their own, with indexes
            ),
            "sql": {
                row[0]: row[1]
                for row in connection.execute(
                    "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                )
            },
            "counters": dict(connection.execute("SELECT name, seq FROM sqlite_sequence")),
        }
    finally:
        connection.close()


@pytest.fixture
def release_relay(tmp_path) -> Path:
    """The data dir of a relay made by release 0.1.0."""
    make_release_relay(tmp_path / "data")
    return tmp_path / "data"


def test_upgrading_a_release_relay_keeps_every_row(release_relay):
    path = release_relay / DATABASE_FILE
    before = rows_of(path)
    storage = open_storage(path)
    # The rebuild ran with foreign keys off (dropping a table would cascade); they are on again.
    assert storage.database.execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
    storage.close()
    after = rows_of(path)
    # m008_delivery added the deadline columns to message: empty for every message before it.
    added = len(m008_delivery.DEADLINES)
    assert [row[-added:] for row in after["message"]] == [(None,) * added] * len(before["message"])
    assert {**after, "message": [row[:-added] for row in after["message"]]} == before
    assert before["message"] == [row[:7] for row in ROWS["message"][:4]]


def test_upgrading_records_the_new_migration_and_keeps_the_old_names(release_relay):
    path = release_relay / DATABASE_FILE
    open_storage(path).close()
    connection = sqlite3.connect(path)
    applied = connection.execute("SELECT name, applied_ms FROM applied_migration").fetchall()
    connection.close()
    assert applied[:2] == ROWS["applied_migration"]
    assert [name for name, _ in applied] == [m.__name__ for m in MIGRATIONS]


def test_the_upgraded_schema_has_64_bit_ids_and_times_and_booleans(release_relay):
    path = release_relay / DATABASE_FILE
    before = schema_of(path)
    open_storage(path).close()
    after = schema_of(path)
    kept_integer = {("attachment", "position")}  # a place in a list: 32 bits are plenty
    added = [c for c in after["columns"]["message"] if c[0] in m008_delivery.DEADLINES]
    assert [(c[0], c[1]) for c in added] == [(n, "BIGINT") for n in m008_delivery.DEADLINES]
    for table, columns in after["columns"].items():
        kept = [c for c in columns if table != "message" or c[0] not in m008_delivery.DEADLINES]
        for (name, declared, *_), (_, released, *_) in zip(
            kept, before["columns"][table], strict=True
        ):
            if name == "id":
                # The rowid: SQLite's 64-bit integer key, counted by AUTOINCREMENT.
                assert declared == "INTEGER"
                assert "AUTOINCREMENT" in after["sql"][table]
            elif name == "narrowed":
                assert declared == "BOOLEAN"
            elif released == "INTEGER" and (table, name) not in kept_integer:
                assert declared == "BIGINT", (table, name)
            else:
                assert declared == released, (table, name)
    assert ("narrowed", "BOOLEAN", 1, "FALSE", 0) in after["columns"]["message"]
    assert after["foreign_keys"] == before["foreign_keys"]
    assert after["indexes"] == sorted([*before["indexes"], "message_due"])  # m008_delivery
    assert after["counters"] == before["counters"] == {"session": 2, "message": 5, "attachment": 1}


def test_message_ids_are_never_reused_across_the_upgrade(release_relay):
    service = build_service(ServerConfig(data_dir=release_relay))
    sent = service.post_message("alpha", "plans", SendMessageRequest(text="after the upgrade"))
    assert sent.id == 6  # message 5 was deleted before the upgrade; its id stays used
    service.storage.database.execute_sql("DELETE FROM message WHERE id = 6")
    again = service.post_message("alpha", "plans", SendMessageRequest(text="and again"))
    assert again.id == 7
    service.storage.close()


def test_an_upgrade_keeps_ids_restore_skipped(release_relay):
    path = release_relay / DATABASE_FILE
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("UPDATE sqlite_sequence SET seq = 1000005 WHERE name = 'message'")
    connection.close()
    service = build_service(ServerConfig(data_dir=release_relay))
    sent = service.post_message("beta", "plans", SendMessageRequest(text="after a restore"))
    assert sent.id == 1_000_006
    service.storage.close()


def test_an_upgraded_relay_serves_its_old_messages_as_before(release_relay):
    service = build_service(ServerConfig(data_dir=release_relay))
    page = service.read_messages("alpha", "plans", after_id=0)
    assert [(m.id, m.sender, m.to, m.reply_to) for m in page.messages] == [
        (1, "alpha", [], None),
        (2, "beta", ["alpha"], 1),
        (3, "alpha", [], None),
    ]
    assert page.messages[2].attachments[0].size == 5_000_000_000
    assert [m.id for m in service.read_messages("ghost", "plans", after_id=0).messages] == [1, 3]
    assert service.get_session("alpha", "plans").unread == 0
    assert files.may_read_blob("alpha", DIGEST)  # the uploader, and a reader of message 3
    assert not files.may_read_blob("stranger", DIGEST)
    closed = {s.name: s.closed_at for s in service.list_sessions("beta", include_closed=True)}
    assert closed["old"] is not None
    assert closed["plans"] is None
    service.storage.close()


def test_a_relay_already_upgraded_is_left_alone(release_relay):
    path = release_relay / DATABASE_FILE
    open_storage(path).close()
    upgraded = schema_of(path)
    open_storage(path).close()
    assert schema_of(path) == upgraded


def test_an_upgrade_that_fails_leaves_the_release_tables_as_they_were(release_relay, monkeypatch):
    path = release_relay / DATABASE_FILE
    rows, schema = rows_of(path), schema_of(path)

    def broken(*_: object) -> None:
        raise RuntimeError("disk pulled out mid-upgrade")

    monkeypatch.setattr(sqlite_dialect, "raise_id_counter", broken)
    with pytest.raises(RuntimeError, match="mid-upgrade"):
        open_storage(path)
    assert rows_of(path) == rows
    assert schema_of(path) == schema

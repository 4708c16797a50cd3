"""``agent-relay-server migrate --to postgresql://...``: a SQLite relay copied into a fresh
PostgreSQL schema, resumable after an interruption, verified by counts and checksums."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from relay_core import CreateSessionRequest, SendMessageRequest
from relay_core.tasks import HandoffRequest
from relay_server.cli import main
from relay_server.maintenance import migrating
from relay_server.storage import open_storage
from relay_server.storage.postgres import copying
from tests.conftest import service_on


@pytest.fixture
def sqlite_relay(tmp_path: Path) -> Path:
    """A data dir whose SQLite relay holds sessions, messages, a task, a role and a deleted
    newest message (its id must not come back in PostgreSQL); 32 messages with the task's."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    storage = open_storage(data_dir / "relay.sqlite3")
    service = service_on(storage)
    service.create_session("alpha", CreateSessionRequest(name="team", participants=["bravo"]))
    service.create_session("bravo", CreateSessionRequest(name="side", participants=["alpha"]))
    for i in range(30):
        service.post_message("alpha", "team", SendMessageRequest(text=f"note {i}"))
    service.post_message("alpha", "team", SendMessageRequest(text="to a role", to=["@reviewer"]))
    service.handoff_task("alpha", "team", HandoffRequest(title="review it", assignee="bravo"))
    service.claim_role("bravo", "team", "reviewer")
    service.read_messages("bravo", "team", mark_read=True)
    last = service.post_message("bravo", "side", SendMessageRequest(text="deleted later")).id
    storage.database.execute_sql("DELETE FROM message WHERE id = ?", (last,))
    storage.close()
    return data_dir


def run(data_dir: Path, url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["migrate", "--to", url, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def test_a_sqlite_relay_moves_into_postgresql_with_every_row_and_id(sqlite_relay, postgres_url):
    code, output = run(sqlite_relay, postgres_url)
    assert code == 0, output
    assert "message: 32 row(s) here, 32 there, same checksum" in output
    again, output = run(sqlite_relay, postgres_url)  # nothing left to copy, all the same
    assert again == 0
    assert "(0 copied by this run)" in output
    storage = open_storage(postgres_url)
    try:
        service = service_on(storage)
        page = service.read_messages("alpha", "team", after_id=0, limit=100)
        assert [m.text for m in page.messages[:2]] == ["note 0", "note 1"]
        assert service.read_messages("bravo", "team").messages == []  # read position came too
        assert service.list_tasks("bravo", "team")[0].title == "review it"
        newest = max(m.id for m in page.messages)
        fresh = service.post_message("alpha", "team", SendMessageRequest(text="after")).id
        assert fresh > newest + 1  # the deleted message's id is not handed out again
    finally:
        storage.close()


def test_an_interrupted_migration_carries_on_where_it_stopped(
    sqlite_relay, postgres_url, monkeypatch
):
    monkeypatch.setattr(copying, "BATCH_ROWS", 4)
    batches = 0

    def stop_after_three_batches(line: str) -> None:
        nonlocal batches
        batches += "copied" in line
        if batches == 3 and "message:" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrating.migrate_to_postgres(
            sqlite_relay / "relay.sqlite3", postgres_url, stop_after_three_batches
        )
    lines: list[str] = []
    report = migrating.migrate_to_postgres(
        sqlite_relay / "relay.sqlite3", postgres_url, lines.append
    )
    assert report.ok
    message = next(t for t in report.tables if t.name == "message")
    assert 0 < message.copied < message.source_rows == message.target_rows == 32


def test_a_row_that_differs_in_postgresql_fails_the_checksum(sqlite_relay, postgres_url):
    assert run(sqlite_relay, postgres_url)[0] == 0
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("UPDATE message SET text = 'changed' WHERE text = 'note 3'")
    code, output = run(sqlite_relay, postgres_url)
    assert code == 1
    assert "message: differs, going over it again" in output
    assert "these tables differ after the copy: message" in output


def test_migrate_refuses_a_target_that_is_not_postgresql(sqlite_relay, tmp_path):
    code, output = run(sqlite_relay, f"sqlite:///{tmp_path}/other.sqlite3")
    assert code != 0
    assert "postgresql://" in output

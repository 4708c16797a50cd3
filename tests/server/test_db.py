"""The relay's SQLite database: writers queue instead of failing, statements are reused."""

import threading

from relay_core import CreateSessionRequest, SendMessageRequest
from relay_server.app import build_service
from relay_server.config import ServerConfig
from relay_server.db import PRAGMAS, RelaySqliteDatabase


def test_many_writing_threads_never_see_database_is_locked(tmp_path):
    # A busy timeout of 50 ms makes SQLite's polling lose often (hundreds of "database is
    # locked" with a plain SqliteDatabase here); the relay's writers wait their turn instead.
    db = RelaySqliteDatabase(
        str(tmp_path / "relay.sqlite3"),
        pragmas={**PRAGMAS, "busy_timeout": 50},
        lock_type="IMMEDIATE",
    )
    db.execute_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)")
    failures: list[Exception] = []

    def write(writer: int) -> None:
        for _ in range(100):
            try:
                with db.atomic():
                    db.execute_sql("INSERT INTO item (writer) VALUES (?)", (writer,))
                    with db.atomic():  # a savepoint inside does not take the lock again
                        db.execute_sql("SELECT COUNT(*) FROM item").fetchone()
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert db.execute_sql("SELECT COUNT(*) FROM item").fetchone() == (1600,)
    db.close()


def test_pages_of_any_length_run_the_same_sql(tmp_path, monkeypatch):
    # Each SQLite connection compiles and keeps every distinct statement it meets; SQL that
    # changed with the page length made the relay's memory creep up under load.
    service = build_service(ServerConfig(data_dir=tmp_path))
    service.create_session("alpha", CreateSessionRequest.parse({"name": "s", "participants": []}))
    for n in range(6):
        info = service.put_blob("alpha", f"file {n}".encode())
        ref = {"sha256": info.sha256, "filename": f"{n}.txt"}
        service.post_message(
            "alpha", "s", SendMessageRequest.parse({"text": "x", "attachments": [ref]})
        )
    statements: list[str] = []
    execute_sql = RelaySqliteDatabase.execute_sql

    def recording(self, sql, params=None):
        statements.append(sql)
        return execute_sql(self, sql, params)

    monkeypatch.setattr(RelaySqliteDatabase, "execute_sql", recording)
    seen = []
    for limit in (1, 2, 5):
        statements.clear()
        page = service.read_messages("alpha", "s", after_id=0, limit=limit)
        assert len(page.messages) == limit
        assert all(m.attachments for m in page.messages)
        seen.append(set(statements))
    assert seen[0] == seen[1] == seen[2]

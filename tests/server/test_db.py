"""The relay's SQLite database: writers of one process queue instead of failing as 'locked'."""

import threading

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

"""The SQLite backend: writers take turns on one in-process lock; statements are reused;
open_storage opens only the databases it knows."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from peewee import IntegrityError

from relay_core import CreateSessionRequest, InvalidInput, SendMessageRequest
from relay_server.app import build_service
from relay_server.config import ServerConfig
from relay_server.storage import open_storage
from relay_server.storage.models import Client
from relay_server.storage.sqlite.database import PRAGMAS, RelayDatabase

THREADS = 8
WRITES_EACH = 25


@pytest.fixture
def fresh_db(tmp_path):
    database = open_storage(tmp_path / "relay.sqlite3").database
    yield database
    database.close()


def add_client(database, client_id):
    with database.atomic():
        Client.create(client_id=client_id, created_ms=0)


def add_client_from_another_thread(database, client_id):
    """Add a client on a new thread; False if it is still blocked after 5 s."""

    def write():
        add_client(database, client_id)
        database.close()

    other = threading.Thread(target=write, daemon=True)
    other.start()
    other.join(timeout=5)
    return not other.is_alive()


def test_writers_on_many_threads_all_commit(fresh_db):
    def write_all(thread):
        for i in range(WRITES_EACH):
            add_client(fresh_db, f"t{thread}-{i}")
        fresh_db.close()  # peewee keeps a connection per thread

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(write_all, range(THREADS)))

    assert Client.select().count() == THREADS * WRITES_EACH


def test_a_rolled_back_transaction_frees_the_lock_for_other_threads(fresh_db):
    def doomed():
        with fresh_db.atomic():
            Client.create(client_id="doomed", created_ms=0)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        doomed()

    assert add_client_from_another_thread(fresh_db, "after")
    assert [c.client_id for c in Client.select()] == ["after"]


def test_a_failed_statement_inside_a_transaction_frees_the_lock(fresh_db):
    add_client(fresh_db, "taken")
    with pytest.raises(IntegrityError):
        add_client(fresh_db, "taken")

    assert add_client_from_another_thread(fresh_db, "next")
    assert Client.select().count() == 2


def test_nested_transactions_take_the_lock_once(fresh_db):
    with fresh_db.atomic(), fresh_db.atomic():
        Client.create(client_id="nested", created_ms=0)

    assert add_client_from_another_thread(fresh_db, "next")
    assert Client.select().count() == 2


def test_many_writing_threads_never_see_database_is_locked(tmp_path):
    # A busy timeout of 50 ms makes SQLite's polling lose often (hundreds of "database is
    # locked" with a plain SqliteDatabase here); the relay's writers wait their turn instead.
    db = RelayDatabase(
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
    execute_sql = RelayDatabase.execute_sql

    def recording(self, sql, params=None):
        statements.append(sql)
        return execute_sql(self, sql, params)

    monkeypatch.setattr(RelayDatabase, "execute_sql", recording)
    seen = []
    for limit in (1, 2, 5):
        statements.clear()
        page = service.read_messages("alpha", "s", after_id=0, limit=limit)
        assert len(page.messages) == limit
        assert all(m.attachments for m in page.messages)
        seen.append(set(statements))
    assert seen[0] == seen[1] == seen[2]


@pytest.mark.parametrize(
    "url", ["mysql://relay:secret@db/relay", "oracle://db/relay", "sqlite://relay"]
)
def test_open_storage_refuses_a_database_it_cannot_open_and_changes_nothing(tmp_path, url):
    with pytest.raises(InvalidInput) as refused:
        open_storage(url)
    message = str(refused.value)
    assert "sqlite:///PATH" in message
    assert "secret" not in message
    assert refused.value.code == "invalid"
    assert list(tmp_path.iterdir()) == []


def test_open_storage_takes_a_sqlite_url_or_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_url = open_storage("sqlite:///by-url.sqlite3")
    by_path = open_storage(str(tmp_path / "by-path.sqlite3"))
    assert (by_url.backend, by_path.backend) == ("sqlite", "sqlite")
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == [
        "by-path.sqlite3",
        "by-url.sqlite3",
    ]
    by_url.close()
    by_path.close()

"""RelayDatabase: write transactions from many threads take turns on one in-process lock."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from peewee import IntegrityError

from relay_server import db as store

THREADS = 8
WRITES_EACH = 25


@pytest.fixture
def fresh_db(tmp_path):
    database = store.open_database(tmp_path / "relay.sqlite3")
    yield database
    database.close()


def add_client(database, client_id):
    with database.atomic():
        store.Client.create(client_id=client_id, created_ms=0)


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

    assert store.Client.select().count() == THREADS * WRITES_EACH


def test_a_rolled_back_transaction_frees_the_lock_for_other_threads(fresh_db):
    def doomed():
        with fresh_db.atomic():
            store.Client.create(client_id="doomed", created_ms=0)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        doomed()

    assert add_client_from_another_thread(fresh_db, "after")
    assert [c.client_id for c in store.Client.select()] == ["after"]


def test_a_failed_statement_inside_a_transaction_frees_the_lock(fresh_db):
    add_client(fresh_db, "taken")
    with pytest.raises(IntegrityError):
        add_client(fresh_db, "taken")

    assert add_client_from_another_thread(fresh_db, "next")
    assert store.Client.select().count() == 2


def test_nested_transactions_take_the_lock_once(fresh_db):
    with fresh_db.atomic(), fresh_db.atomic():
        store.Client.create(client_id="nested", created_ms=0)

    assert add_client_from_another_thread(fresh_db, "next")
    assert store.Client.select().count() == 2

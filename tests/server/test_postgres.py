"""The relay on PostgreSQL: a real relay started on a ``postgresql://`` database URL serves the
same HTTP API, and the backend's own pieces (URL handling, connections, errors) behave.

The service-level suites (``test_service``, ``test_search``, ``test_roles``) run on both
backends through the ``database_url`` fixture; this file covers what only PostgreSQL has.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import requests

from relay_core import InvalidInput, Unavailable
from relay_server.config import ServerConfig
from relay_server.storage import open_storage
from tests.conftest import free_port

API = "/api/v1"


def test_a_relay_on_postgresql_serves_the_http_api(start_relay, postgres_url) -> None:
    relay = start_relay(database_url=postgres_url)

    def call(client: str, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method, relay.url + API + path, headers=relay.headers(client), timeout=10, **kwargs
        )

    created = call("alpha", "POST", "/sessions", json={"name": "pg", "participants": ["bravo"]})
    assert created.status_code == 201, created.text
    sent = [
        call("alpha", "POST", "/sessions/pg/messages", json={"text": f"n{i}"}).json()["id"]
        for i in range(3)
    ]
    narrowed = call("alpha", "POST", "/sessions/pg/messages", json={"text": "x", "to": ["alpha"]})
    assert narrowed.status_code == 201, narrowed.text
    page = call("bravo", "GET", "/sessions/pg/messages?after=0").json()
    assert [m["id"] for m in page["messages"]] == sent
    found = call("bravo", "GET", "/search", params={"q": "n1"}).json()
    assert [hit["id"] for hit in found["hits"]] == [sent[1]]
    assert call("bravo", "GET", "/sessions/pg").json()["unread"] == 3


def test_a_stopped_relay_leaves_no_connection_open(postgres_url) -> None:
    storage = open_storage(postgres_url)
    schema = postgres_url.rsplit("%3D", 1)[1]

    def connections() -> int:
        with psycopg.connect(postgres_url.split("?")[0]) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE query LIKE %s AND pid <> pg_backend_pid()",
                (f"%/* work of {schema} */%",),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def work() -> None:
        storage.database.execute_sql(f"SELECT 1 /* work of {schema} */")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert connections() >= 3
    storage.close()
    # A server process leaves pg_stat_activity a moment after its client hangs up.
    deadline = time.monotonic() + 10
    while connections() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections() == 0


def test_an_unreachable_server_is_unavailable_and_says_no_password() -> None:
    url = f"postgresql://relay:s3cret-pw@127.0.0.1:{free_port()}/relay?connect_timeout=2"
    with pytest.raises(Unavailable) as refused:
        open_storage(url)
    assert "cannot connect to PostgreSQL" in str(refused.value)
    assert "s3cret-pw" not in str(refused.value)


def test_sqlite_only_commands_say_so_for_a_postgresql_relay() -> None:
    config = ServerConfig(database_url="postgresql://relay@db.example/relay")
    with pytest.raises(InvalidInput, match="needs a SQLite database"):
        _ = config.database_path
    assert config.token_marker_base == config.data_dir / "relay-database"


def test_readers_never_skip_a_message_when_two_relays_write_at_once(start_relay, postgres_url):
    """Writers on two relays sharing one database race a reader that pages with ``after``: every
    message the reader is ever shown comes after the ones it was shown before, so it ends with
    every message, in order, none skipped (ids are handed out in commit order)."""
    relays = [start_relay(database_url=postgres_url) for _ in range(2)]
    members = [f"w{i}" for i in range(6)]

    def call(relay, client: str, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method, relay.url + API + path, headers=relay.headers(client), timeout=30, **kwargs
        )

    body = {"name": "race", "participants": [*members[1:], "reader"]}
    assert call(relays[0], members[0], "POST", "/sessions", json=body).status_code == 201
    per_writer = 25
    done = threading.Event()

    def write(n: int) -> None:
        relay = relays[n % 2]
        for i in range(per_writer):
            answer = call(
                relay, members[n], "POST", "/sessions/race/messages", json={"text": f"{n}.{i}"}
            )
            assert answer.status_code == 201, answer.text

    seen: list[int] = []

    def read() -> None:
        after = 0
        while True:
            finished = done.is_set()
            page = call(
                relays[1], "reader", "GET", f"/sessions/race/messages?after={after}&limit=500"
            )
            ids = [m["id"] for m in page.json()["messages"]]
            seen.extend(ids)
            after = ids[-1] if ids else after
            if finished and not ids:
                return

    writers = [threading.Thread(target=write, args=(n,)) for n in range(len(members))]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=60)
    everything = call(relays[0], "reader", "GET", "/sessions/race/messages?after=0&limit=500")
    all_ids = [m["id"] for m in everything.json()["messages"]]
    assert len(all_ids) == len(members) * per_writer
    assert seen == all_ids  # nothing skipped, nothing twice, in order


def test_the_postgres_spelling_of_the_scheme_works_too(postgres_url) -> None:
    storage = open_storage(postgres_url.replace("postgresql://", "postgres://", 1))
    try:
        assert storage.backend == "postgresql"
    finally:
        storage.close()

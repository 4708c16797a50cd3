"""Search timed in process on a big store: the storage query alone, wall and CPU time.

Figure 12 (:mod:`bench.search`) times ``search_messages`` over MCP beside a page read. This
times :func:`relay_server.storage.search.search_messages` called directly, for a word in about a
tenth of the store (``migration``) and a rare one, so a change to the query shows without the
relay around it. The store is built once (:func:`bench.seed.fill_store` on SQLite; one
``INSERT ... SELECT`` on PostgreSQL) and kept for the next run::

    uv run python -m bench.search_store --dir /tmp/search-1m --size 1000000
    uv run python -m bench.search_store --postgres --size 200000

CPU is this process's (the thread that ran the query): on PostgreSQL most of the work is the
server's, so there the wall time is the figure. The PostgreSQL store goes to a fresh schema of
``RELAY_BENCH_POSTGRES`` and is dropped at the end, unless ``--schema NAME`` keeps it there
for the next run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

from bench.paging import READER, SESSION, WRITER
from bench.postgres import POSTGRES, fresh_schema
from bench.search import COMMON, RARE, RARE_MESSAGES
from bench.seed import fill_store, message_texts, seed_session
from relay_core import now_ms
from relay_server.config import DATABASE_FILE
from relay_server.storage import Storage, models, open_storage
from relay_server.storage.dialect import execute_sql
from relay_server.storage.search import SearchFilter, search_messages

LIMIT: Final = 20
"""The MCP tool's default page."""
OUTSIDER: Final = "search-outsider"
"""A client in none of the store's sessions: every match must be passed over."""
ELSEWHERE: Final = "search-elsewhere"


def sqlite_store(data_dir: Path, size: int) -> Storage:
    """The SQLite store of ``size`` messages in ``data_dir``, filled on first use."""
    path = data_dir / DATABASE_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fill_store(data_dir, size, SESSION, WRITER, READER)
        storage = open_storage(path)
        _add_rare(storage)
        return storage
    return open_storage(path)


def postgres_store(url: str, size: int) -> Storage:
    """A PostgreSQL store of ``size`` messages like :func:`bench.seed.fill_store`'s, filled on
    first use (a kept schema is reused)."""
    storage = open_storage(url)
    if models.Session.select().where(models.Session.name == SESSION).exists():
        return storage
    db = storage.database
    stamp = now_ms() - size
    with storage.transaction():
        session_id = seed_session(stamp, SESSION, WRITER, READER)
        message = models.Message
        columns = ", ".join(
            f.column_name for f in (message.session, message.sender, message.text, message.narrowed)
        )
        execute_sql(
            db,
            f"INSERT INTO {message._meta.table_name} ({columns}, {message.created_ms.column_name})"
            " SELECT %s, %s, (%s::text[])[1 + i %% 200], false, %s + i"
            " FROM generate_series(0, %s - 1) AS i",
            (session_id, WRITER, message_texts(200), stamp, size),
        )
    execute_sql(db, "ANALYZE")
    _add_rare(storage)
    return storage


@contextmanager
def kept_schema(name: str) -> Iterator[str]:
    """A database URL whose tables go to schema ``name`` of ``RELAY_BENCH_POSTGRES``, created if
    need be and kept, so that a second run (another version of the code) finds the same store."""
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
    yield f"{POSTGRES}?options=-csearch_path%3D{name}"


def _add_rare(storage: Storage) -> None:
    """The messages with the rare word, after the fill, as figure 12 sends them; and
    :data:`OUTSIDER`, in a session of its own, who may read none of the store."""
    session = models.Session.get(models.Session.name == SESSION)
    with storage.transaction():
        seed_session(now_ms(), ELSEWHERE, OUTSIDER, OUTSIDER)
        for n in range(RARE_MESSAGES):
            models.Message.insert(
                session=session,
                sender=WRITER,
                text=f"the {RARE} hand-off, part {n}",
                narrowed=False,
                created_ms=now_ms(),
            ).execute()


def time_search(caller: str, word: str, runs: int) -> tuple[float, float, int]:
    """Median wall and CPU milliseconds of ``caller``'s search for ``word``, and how many hits
    it gave."""
    walls, cpus, hits = [], [], 0
    for _ in range(runs + 1):
        began, began_cpu = time.perf_counter(), time.thread_time()
        found, _ = search_messages(caller, word, SearchFilter(), LIMIT)
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((time.thread_time() - began_cpu) * 1000)
        hits = len(found)
    # The first run warms the page cache and the statement cache.
    return statistics.median(walls[1:]), statistics.median(cpus[1:]), hits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search_store", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="messages in the store")
    parser.add_argument("--dir", type=Path, help="SQLite store directory (kept, reused)")
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL store instead")
    parser.add_argument(
        "--schema", help="keep the PostgreSQL store in this schema (reused; drop it yourself)"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed searches per word")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        began = time.perf_counter()
        if args.postgres:
            schema = kept_schema(args.schema) if args.schema else fresh_schema()
            storage = postgres_store(stack.enter_context(schema), args.size)
        else:
            if args.dir is None:
                parser.error("--dir is needed for a SQLite store")
            storage = sqlite_store(args.dir, args.size)
        stack.callback(storage.close)
        print(f"store of {args.size:,} messages ready in {time.perf_counter() - began:.1f} s")
        for caller, word in ((READER, RARE), (READER, COMMON), (OUTSIDER, COMMON)):
            wall, cpu, hits = time_search(caller, word, args.runs)
            print(
                f"{caller} {word:>10}: {wall:8.1f} ms wall, {cpu:8.1f} ms CPU (median), {hits} hits"
            )


if __name__ == "__main__":
    main()

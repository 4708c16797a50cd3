"""The fsync floor: what one durable SQLite commit of one row costs on this disk, right now.

A send is durable when it returns (``synchronous=FULL``), so no send can beat one commit with
its fsync. This times exactly that in the bench process: a fresh SQLite file in the bench's own
work directory (the disk the relays write to), opened in WAL mode with the relay's own PRAGMAs
(:data:`relay_server.storage.sqlite.database.PRAGMAS`), one ``INSERT`` of a message-sized row
per ``BEGIN IMMEDIATE ... COMMIT``. The figures measure it between their rounds, so a busy
minute of the disk lands on both sides.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Final

from bench.seed import SEND_TEXT
from bench.stats import Latencies
from relay_server.storage.sqlite.database import PRAGMAS

COMMITS: Final = {"full": 200, "quick": 60, "smoke": 10}
"""Commits timed per measurement, by scale name."""


def _open(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    for name, value in PRAGMAS.items():
        connection.execute(f"PRAGMA {name} = {value}")
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
    if mode != "wal" or synchronous != 2:  # 2 = FULL
        raise RuntimeError(f"fsync floor: journal_mode={mode}, synchronous={synchronous}")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "sender TEXT NOT NULL, text TEXT NOT NULL, created_ms INTEGER NOT NULL)"
    )
    return connection


def measure_fsync_floor(directory: Path, commits: int) -> Latencies:
    """Time ``commits`` one-row durable commits in a SQLite file under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    connection = _open(directory / "fsync-floor.sqlite3")
    samples = []
    try:
        for _ in range(commits):
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO floor (sender, text, created_ms) VALUES (?, ?, ?)",
                ("bench-sender", SEND_TEXT, time.time_ns() // 1_000_000),
            )
            connection.execute("COMMIT")
            samples.append(time.perf_counter() - started)
    finally:
        connection.close()
    return Latencies(tuple(samples))

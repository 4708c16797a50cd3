"""Data the figures need: sessions made through the API, texts like agents write, full stores.

Texts are deterministic (a fixed seed), so two runs compare the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bench.processes import Server
from relay_core import now_ms
from relay_core.wire import SESSIONS_PATH, session_messages_path
from relay_server.config import DATABASE_FILE
from relay_server.storage import models, open_storage

SEND_TEXT: Final = (
    "Build 4127 is green on linux-x86_64; the flaky test_upload_resume passed 20/20 after "
    "the retry fix. Ready for review."
)
"""The text of every message in the throughput figures (~120 bytes, a typical status line)."""

_PHRASES: Final = (
    "I pushed the fix for the failing migration to branch fix/m003",
    "can you rerun the integration suite on the ARM runner?",
    "the benchmark regressed by 4% on the paging figure, looking into it",
    "done: `uv run pytest -q` gives 211 passed",
    "please review packages/relay-server/src/relay_server/service.py lines 300-340",
    "the relay restarted at 14:02 UTC after the kernel update",
    "blocked on the API token for the staging relay",
    "here is the stack trace: KeyError: 'session' in http_api.py line 171",
    "merged; deleting the branch",
    "I will take the docs task, you take the client tests",
)


def message_texts(count: int, seed: int = 8) -> list[str]:
    """``count`` realistic message texts of 40 to 400 characters."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = rng.sample(_PHRASES, rng.randint(1, 4))
        text = ". ".join(parts) + "."
        texts.append(text[0].upper() + text[1:])
    return texts


async def create_session(
    relay: Server, creator: str, name: str, participants: Sequence[str], description: str = ""
) -> None:
    """Create session ``name`` as ``creator`` with ``participants``."""
    body = {"name": name, "participants": list(participants), "description": description}
    await relay.call("POST", SESSIONS_PATH, creator, body)


async def send(relay: Server, sender: str, session: str, text: str, **extra: object) -> int:
    """Send a message over the HTTP API; returns its id."""
    answer = await relay.call(
        "POST", session_messages_path(session), sender, {"text": text, **extra}
    )
    return int(answer["id"])


def seed_session(stamp: int, session: str, writer: str, reader: str) -> int:
    """Clients ``writer`` and ``reader`` (may be one) and their session ``session``, in the open
    database's current transaction; the session's id."""
    clients = dict.fromkeys((writer, reader))
    models.Client.insert_many([{"client_id": c, "created_ms": stamp} for c in clients]).execute()
    session_id: int = models.Session.insert(
        name=session, created_by=writer, created_ms=stamp
    ).execute()
    models.Participant.insert_many(
        [{"session": session_id, "client": c, "joined_ms": stamp} for c in clients]
    ).execute()
    return session_id


def fill_store(data_dir: Path, count: int, session: str, writer: str, reader: str) -> None:
    """Write a relay's SQLite file directly: one session of ``count`` messages.

    Sending a million messages through the API would take longer than the whole bench, so the
    rows go straight into the file, before the relay starts, in one transaction. The schema
    comes from the server itself (``open_storage`` runs its migrations, and table and column
    names are read from its peewee models); the rows are bulk-inserted with the sqlite3
    driver's ``executemany`` on peewee's connection, about ten times faster than building
    ``insert_many`` queries. ``reader`` has read all but the last 50 messages.
    """
    db = open_storage(data_dir / DATABASE_FILE).database
    try:
        stamp = now_ms() - count
        texts = message_texts(200)
        message = models.Message
        columns = [
            message.session.column_name,
            message.sender.column_name,
            message.text.column_name,
            message.narrowed.column_name,
            message.created_ms.column_name,
        ]
        insert = (
            f'INSERT INTO "{message._meta.table_name}" ({", ".join(columns)}) '
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        with db.atomic():
            session_id = seed_session(stamp, session, writer, reader)
            db.connection().executemany(  # type: ignore[no-untyped-call]  # peewee is untyped
                insert,
                (
                    (session_id, writer, texts[i % len(texts)], False, stamp + i)
                    for i in range(count)
                ),
            )
            models.Participant.update(last_read_id=max(count - 50, 0)).where(
                models.Participant.client == reader
            ).execute()
    finally:
        db.close()

"""Storage: the Peewee models, opening SQLite, and named forward migrations.

SQLite runs in WAL mode with ``synchronous=FULL`` (a send that returned is on disk, even after a
power cut), foreign keys on and a busy timeout. Peewee keeps one connection per thread, which is
what FastMCP's thread pool needs; every write transaction starts with ``BEGIN IMMEDIATE`` so a
read that turns into a write never fails with "database is locked". Within the relay process,
write transactions also queue on one lock (:class:`RelayDatabase`) rather than on SQLite's busy
handler, which sleeps in steps of up to 100 ms instead of waking when the lock frees.

Migrations are plain functions named ``m001_...``; each runs in one transaction together with the
row that records it, and looking at what is pending never writes.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    Database,
    DatabaseProxy,
    ForeignKeyField,
    IntegerField,
    Model,
    OperationalError,
    SqliteDatabase,
    TextField,
)

from relay_core import QuotaExceeded, now_ms

_bound_here: contextvars.ContextVar[Database | None] = contextvars.ContextVar(
    "relay_database", default=None
)


class _RelayDatabaseProxy(DatabaseProxy):
    """The models' database: the one :func:`open_database` opened in this context, else the
    one it opened last in the process.

    A relay process opens one database and every thread sees it. The context comes first so that
    several relays can share one process (the test suite serves relays from threads of its own):
    each relay's event loop, and the worker threads it hands database work to, inherit the
    context the relay was built in.
    """

    __slots__ = ("_process_wide",)

    @property
    def obj(self) -> Database | None:  # type: ignore[override]
        return _bound_here.get() or self._process_wide

    @obj.setter
    def obj(self, value: Database | None) -> None:
        object.__setattr__(self, "_process_wide", value)

    # Proxy refuses attributes not in its own __slots__; these slots keep out any others.
    __setattr__ = object.__setattr__


database = _RelayDatabaseProxy()
"""Bound to the open database by :func:`open_database` (see :class:`_RelayDatabaseProxy`)."""

PRAGMAS: Final = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "cache_size": -64_000,
}


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class AppliedMigration(BaseModel):
    """One applied schema migration."""

    name = CharField(primary_key=True)
    applied_ms = BigIntegerField()


class Client(BaseModel):
    """An agent machine or person; the identity behind every request."""

    client_id = CharField(primary_key=True, max_length=64)
    token_hash = CharField(null=True, unique=True, max_length=64)
    created_ms = BigIntegerField()
    first_seen_ms = BigIntegerField(null=True)
    last_seen_ms = BigIntegerField(null=True)


class Session(BaseModel):
    """A named conversation between participants."""

    id = AutoField()
    name = CharField(unique=True, max_length=64)
    description = TextField(default="")
    created_by = ForeignKeyField(Client, column_name="created_by", field="client_id")
    created_ms = BigIntegerField()
    closed_ms = BigIntegerField(null=True)


class Participant(BaseModel):
    """A client's membership of a session, with its server-side read position."""

    session = ForeignKeyField(Session, on_delete="CASCADE")
    client = ForeignKeyField(Client, field="client_id")
    joined_ms = BigIntegerField()
    last_read_id = BigIntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("session", "client")


class Message(BaseModel):
    """One message; ``narrowed`` is true when only the listed recipients may read it."""

    id = AutoField()
    session = ForeignKeyField(Session, on_delete="CASCADE")
    sender = ForeignKeyField(Client, column_name="sender", field="client_id")
    reply_to = BigIntegerField(null=True)
    text = TextField()
    narrowed = BooleanField(default=False)
    created_ms = BigIntegerField()


class Recipient(BaseModel):
    """A recipient of a narrowed message (the seed of per-recipient delivery states)."""

    message = ForeignKeyField(Message, on_delete="CASCADE")
    client = ForeignKeyField(Client, field="client_id")

    class Meta:
        primary_key = CompositeKey("message", "client")


class Attachment(BaseModel):
    """A file attached to a message, by digest."""

    id = AutoField()
    message = ForeignKeyField(Message, on_delete="CASCADE")
    position = IntegerField()
    sha256 = CharField(max_length=64)
    filename = TextField()
    size = BigIntegerField()
    mime = TextField(null=True)


class Upload(BaseModel):
    """Who uploaded which blob, and when last: an uploader may always download its own files."""

    sha256 = CharField(max_length=64)
    uploader = ForeignKeyField(Client, column_name="uploader", field="client_id")
    created_ms = BigIntegerField()

    class Meta:
        primary_key = CompositeKey("sha256", "uploader")


MODELS: Final = (
    AppliedMigration,
    Client,
    Session,
    Participant,
    Message,
    Recipient,
    Attachment,
    Upload,
)


# --- migrations -----------------------------------------------------------------------------


def m001_initial(db: Database) -> None:
    """Clients, sessions, participants, messages, recipients and attachments."""
    for statement in (
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
    ):
        db.execute_sql(statement)


def m002_uploads(db: Database) -> None:
    """Uploads: which client uploaded which blob, for the download rule."""
    db.execute_sql(
        """CREATE TABLE upload (
            sha256 TEXT NOT NULL,
            uploader TEXT NOT NULL REFERENCES client (client_id),
            created_ms INTEGER NOT NULL,
            PRIMARY KEY (sha256, uploader))"""
    )


Migration = Callable[[Database], None]
MIGRATIONS: Final[tuple[Migration, ...]] = (m001_initial, m002_uploads)


def _applied(db: Database) -> set[str]:
    if not db.table_exists(AppliedMigration._meta.table_name):
        return set()
    return {row.name for row in AppliedMigration.select(AppliedMigration.name)}


def pending_migrations(db: Database) -> list[str]:
    """Names of migrations not yet applied, in order. Never writes."""
    applied = _applied(db)
    return [m.__name__ for m in MIGRATIONS if m.__name__ not in applied]


def migrate(db: Database) -> list[str]:
    """Apply every pending migration, each in its own transaction; returns their names."""
    db.create_tables([AppliedMigration], safe=True)
    done = []
    for migration in MIGRATIONS:
        with db.atomic():
            if AppliedMigration.get_or_none(AppliedMigration.name == migration.__name__):
                continue  # another process got there first
            migration(db)
            AppliedMigration.create(name=migration.__name__, applied_ms=now_ms())
        done.append(migration.__name__)
    return done


def _is_disk_full(exc: BaseException) -> bool:
    """True when SQLite failed because the disk is full."""
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, *seen.args):
            if getattr(candidate, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                return True
        seen = seen.__context__
    return "database or disk is full" in str(exc)


@contextlib.contextmanager
def _disk_full_is_quota() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if _is_disk_full(exc):
            raise QuotaExceeded(
                "the relay's disk is full: nothing was written; free some space on the relay host"
            ) from exc
        raise


class RelayDatabase(SqliteDatabase):
    """SQLite whose write transactions, across this process's threads, take turns on a lock.

    SQLite lets one writer in at a time; the others wait in its busy handler, which polls with
    sleeps of 1, 2, 5, ... up to 100 ms. With a few threads sending at once that turned a 3 ms
    commit into waits of hundreds of milliseconds (p99 of 8 concurrent senders: 350-750 ms in
    bench/). A thread blocked on a ``threading.Lock`` wakes as soon as the lock is released.
    Other processes (the admin commands) still meet the busy timeout.

    The lock is taken by ``begin`` (the outermost ``atomic()``; nested ones are savepoints) and
    released by the ``commit`` or ``rollback`` that ends that transaction.

    A full disk is ``quota_exceeded`` (507), not a crash: SQLite fails the statement or the
    COMMIT with SQLITE_FULL and rolls the whole transaction back itself, so nothing of the write
    is kept; the caller gets the error the blob store gives for a full disk. Reads go on working.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer = threading.Lock()
        self._holding = threading.local()

    def begin(self, lock_type: str | None = None) -> None:
        if getattr(self._holding, "lock", False):
            super().begin(lock_type)
            return
        self._writer.acquire()
        self._holding.lock = True
        try:
            super().begin(lock_type)
        except BaseException:
            self._release()
            raise

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        """Run one statement; QuotaExceeded when the disk is full."""
        with _disk_full_is_quota():
            return super().execute_sql(sql, params)

    def commit(self) -> None:
        with _disk_full_is_quota():
            super().commit()  # on failure peewee rolls back, and that releases
        self._release()

    def rollback(self) -> None:
        try:
            # After SQLITE_FULL at COMMIT, SQLite has rolled back already: a ROLLBACK would
            # fail with "no transaction is active" and hide why.
            if self.is_closed() or self.connection().in_transaction:
                super().rollback()
        finally:
            self._release()

    def _release(self) -> None:
        if getattr(self._holding, "lock", False):
            self._holding.lock = False
            self._writer.release()


PRIVATE_UMASK: Final = 0o077
"""What the relay's commands create is for its own user only: directories 0700, files 0600."""
PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
SQLITE_SIDE_FILES: Final = ("-wal", "-shm", "-journal")


def make_private(path: Path, mode: int) -> None:
    """Take group and other permissions away from ``path`` (when it exists and is ours).

    For data made before the relay kept it private: new files are created private (the
    commands run under :data:`PRIVATE_UMASK`), this closes what older versions left open.
    """
    try:
        current = path.stat(follow_symlinks=False)
    except FileNotFoundError:
        return
    if current.st_mode & 0o077 and current.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(current.st_mode) & mode, follow_symlinks=False)


def open_database(path: Path) -> SqliteDatabase:
    """Open (creating if needed) the SQLite file, bind the models to it and migrate it.

    The file and its WAL and shared-memory files are made private to this user (SQLite gives
    the side files the database file's mode when it creates them).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE))
    for file in (path, *(path.with_name(path.name + side) for side in SQLITE_SIDE_FILES)):
        make_private(file, PRIVATE_FILE_MODE)
    db = RelayDatabase(str(path), pragmas=PRAGMAS, lock_type="IMMEDIATE")
    database.initialize(db)
    _bound_here.set(db)
    db.connect(reuse_if_open=True)
    migrate(db)
    return db

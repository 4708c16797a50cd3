"""The relay's tables as Peewee models, and the database they are bound to.

The models are shared by every backend: column types are portable (64-bit ids and times,
booleans as booleans). Which database a query runs on is decided by :data:`database`, bound by
the backend that opened it (see :func:`bind`).

A foreign key ``sender`` also gives each row ``sender_id``, the key it holds, read without a
query; peewee makes these attributes at run time, so the models declare them for the type
checker.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any, Protocol, cast

from peewee import (
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    Database,
    DatabaseProxy,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

if TYPE_CHECKING:
    from relay_server.storage.dialect import Dialect

_bound_here: contextvars.ContextVar[Database | None] = contextvars.ContextVar(
    "relay_database", default=None
)


class _RelayDatabaseProxy(DatabaseProxy):
    """The models' database: the one :func:`bind` bound in this context, else the one it bound
    last in the process.

    A relay process opens one database and every thread sees it. The context comes first so that
    several relays can share one process (the test suite serves relays from threads of its own):
    each relay's event loop, and the worker threads it hands database work to, inherit the
    context the relay was built in.
    """

    __slots__ = ("_process_wide",)

    @property
    def obj(self) -> Database | None:
        return _bound_here.get() or self._process_wide

    @obj.setter
    def obj(self, value: Database | None) -> None:
        object.__setattr__(self, "_process_wide", value)

    def __setattr__(self, attr: str, value: Any) -> None:
        # Proxy refuses attributes not in its own __slots__; these slots keep out any others.
        object.__setattr__(self, attr, value)


database = _RelayDatabaseProxy()
"""Bound to the open database by :func:`bind` (see :class:`_RelayDatabaseProxy`)."""


def bind(db: Database) -> None:
    """Make ``db`` the models' database in this context, and for the process by default."""
    database.initialize(db)
    _bound_here.set(db)


def current() -> Database:
    """The database the models are bound to here (see :data:`database`)."""
    bound = database.obj
    if bound is None:
        raise RuntimeError("no relay database is open")
    return bound


class _WithDialect(Protocol):
    dialect: Dialect


def dialect() -> Dialect:
    """The dialect of the database the models are bound to here (see :data:`database`)."""
    return cast("_WithDialect", database.obj).dialect


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

    id = BigAutoField()
    name = CharField(unique=True, max_length=64)
    description = TextField(default="")
    created_by = ForeignKeyField(Client, column_name="created_by", field="client_id")
    created_ms = BigIntegerField()
    closed_ms = BigIntegerField(null=True)

    created_by_id: str


class Participant(BaseModel):
    """A client's membership of a session, with its server-side read position."""

    session = ForeignKeyField(Session, on_delete="CASCADE")
    client = ForeignKeyField(Client, field="client_id")
    joined_ms = BigIntegerField()
    last_read_id = BigIntegerField(default=0)

    session_id: int
    client_id: str

    class Meta:
        primary_key = CompositeKey("session", "client")


class Message(BaseModel):
    """One message; ``narrowed`` is true when only the listed recipients may read it."""

    id = BigAutoField()
    session = ForeignKeyField(Session, on_delete="CASCADE")
    sender = ForeignKeyField(Client, column_name="sender", field="client_id")
    reply_to = BigIntegerField(null=True)
    text = TextField()
    narrowed = BooleanField(default=False)
    created_ms = BigIntegerField()
    reply_by_ms = BigIntegerField(null=True)
    expires_ms = BigIntegerField(null=True)
    due_ms = BigIntegerField(null=True)
    """The next deadline (reply-by, then expiry) the relay has yet to act on; None when none."""

    session_id: int
    sender_id: str


class Recipient(BaseModel):
    """A recipient of a narrowed message (the seed of per-recipient delivery states)."""

    message = ForeignKeyField(Message, on_delete="CASCADE")
    client = ForeignKeyField(Client, field="client_id")

    message_id: int
    client_id: str

    class Meta:
        primary_key = CompositeKey("message", "client")


class Delivery(BaseModel):
    """When a message was first handed to one of its recipients, and when that one read it."""

    message = ForeignKeyField(Message, on_delete="CASCADE")
    client_id = CharField(max_length=64)
    delivered_ms = BigIntegerField()
    read_ms = BigIntegerField(null=True)

    message_id: int

    class Meta:
        primary_key = CompositeKey("message", "client_id")


class Attachment(BaseModel):
    """A file attached to a message, by digest."""

    id = BigAutoField()
    message = ForeignKeyField(Message, on_delete="CASCADE")
    position = IntegerField()
    sha256 = CharField(max_length=64)
    filename = TextField()
    size = BigIntegerField()
    mime = TextField(null=True)

    message_id: int


class Upload(BaseModel):
    """Who uploaded which blob, and when last: an uploader may always download its own files."""

    sha256 = CharField(max_length=64)
    uploader = ForeignKeyField(Client, column_name="uploader", field="client_id")
    created_ms = BigIntegerField()

    uploader_id: str

    class Meta:
        primary_key = CompositeKey("sha256", "uploader")


class RoleHolder(BaseModel):
    """Who holds a role (``reviewer``) of a session."""

    session = ForeignKeyField(Session, on_delete="CASCADE")
    role = TextField()
    holder = ForeignKeyField(Client, column_name="holder", field="client_id")
    claimed_ms = BigIntegerField()

    session_id: int
    holder_id: str

    class Meta:
        primary_key = CompositeKey("session", "role")


class MessageRole(BaseModel):
    """A role a message was addressed to; ``held`` until a holder claims the role."""

    message = ForeignKeyField(Message, on_delete="CASCADE")
    role = TextField()
    held = BooleanField(default=False)

    message_id: int

    class Meta:
        primary_key = CompositeKey("message", "role")


class JoinCode(BaseModel):
    """A one-time join code, by the SHA-256 of its secret; spent once ``used_ms`` is set."""

    code_hash = CharField(primary_key=True, max_length=64)
    client_id = CharField(null=True, max_length=64)
    sealed_token = TextField(null=True)
    created_ms = BigIntegerField()
    expires_ms = BigIntegerField()
    used_ms = BigIntegerField(null=True)
    used_by = CharField(null=True, max_length=64)

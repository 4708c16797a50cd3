"""Clients: who the relay knows, their tokens and last-seen times, and the peers a caller sees.

Plain functions over the models; they run inside whatever transaction the caller opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from relay_core import NotFound, Peer, from_ms
from relay_server.storage.models import Client, Participant, Session, dialect


def ensure_clients(client_ids: Iterable[str], stamp: int) -> None:
    """Create client rows for ids the relay has not seen (invited before they connect)."""
    rows = [{"client_id": c, "created_ms": stamp} for c in dict.fromkeys(client_ids)]
    if rows:
        Client.insert_many(rows).on_conflict_ignore().execute()


def unregistered(client_ids: Iterable[str]) -> list[str]:
    """Those of ``client_ids`` that hold no per-client token on this relay, in the given order."""
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return []
    registered = {
        row.client_id
        for row in Client.select(Client.client_id).where(
            dialect().in_list(Client.client_id, wanted) & Client.token_hash.is_null(False)
        )
    }
    return [c for c in wanted if c not in registered]


def client_row(client_id: str) -> Client:
    """The client row, or NotFound."""
    row = Client.get_or_none(Client.client_id == client_id)
    if row is None:
        raise NotFound(f"client {client_id!r} is not known to this relay")
    return row


def record_seen(client_id: str, stamp: int) -> None:
    """Record that ``client_id`` called at ``stamp``, creating the client on its first call."""
    ensure_clients([client_id], stamp)
    Client.update(last_seen_ms=stamp).where(Client.client_id == client_id).execute()
    Client.update(first_seen_ms=stamp).where(
        (Client.client_id == client_id) & Client.first_seen_ms.is_null()
    ).execute()


def record_seen_many(stamps: dict[str, int]) -> None:
    """Record the last-seen times of clients the relay knows (``client id -> stamp``)."""
    for client_id, stamp in stamps.items():
        Client.update(last_seen_ms=stamp).where(
            (Client.client_id == client_id)
            & (Client.last_seen_ms.is_null() | (Client.last_seen_ms < stamp))
        ).execute()


def set_token(client_id: str, token_hash: str, stamp: int) -> bool:
    """Give a client (created if new) a per-client token; True when it replaced one."""
    ensure_clients([client_id], stamp)
    replaced: bool = (
        Client.select()
        .where((Client.client_id == client_id) & Client.token_hash.is_null(False))
        .exists()
    )
    Client.update(token_hash=token_hash).where(Client.client_id == client_id).execute()
    return replaced


def remove_token(client_id: str) -> bool:
    """Take a client's per-client token away; False when it had none."""
    removed: int = (
        Client.update(token_hash=None)
        .where((Client.client_id == client_id) & Client.token_hash.is_null(False))
        .execute()
    )
    return bool(removed)


@dataclass(frozen=True)
class ClientRecord:
    """One client as its operator sees it: whether it holds a token, and when it was seen."""

    client_id: str
    has_token: bool
    created_ms: int
    last_seen_ms: int | None


def all_clients() -> list[ClientRecord]:
    """Every client the relay knows, by id."""
    return [
        ClientRecord(
            client_id=row.client_id,
            has_token=row.token_hash is not None,
            created_ms=row.created_ms,
            last_seen_ms=row.last_seen_ms,
        )
        for row in Client.select().order_by(Client.client_id)
    ]


def client_for_token_hash(token_hash: str) -> str | None:
    """The client a per-client token belongs to, if any."""
    row = Client.get_or_none(Client.token_hash == token_hash)
    return row.client_id if row else None


def count_clients() -> int:
    """How many clients the relay knows."""
    count: int = Client.select().count()
    return count


def peers(caller: str) -> list[Peer]:
    """Every other client the caller may see, with the sessions the caller shares with it."""
    mine = Participant.select(Participant.session).where(Participant.client == caller)
    shared: dict[str, list[str]] = {}
    rows = cast(  # peewee's stubs type the rows of .tuples() as models
        "Iterable[tuple[str, str]]",
        Participant.select(Participant.client, Session.name)
        .join(Session)
        .where(Participant.session.in_(mine) & (Participant.client != caller))
        .order_by(Session.name)
        .tuples(),
    )
    for client_id, session_name in rows:
        shared.setdefault(client_id, []).append(session_name)
    # A client id someone invited but that never called is shown only to those sharing a
    # session with it: anyone may invite any name, and must not fill everyone's list.
    known = (
        Client.first_seen_ms.is_null(False)
        | Client.token_hash.is_null(False)
        | Client.client_id.in_(
            Participant.select(Participant.client).where(Participant.session.in_(mine))
        )
    )
    return [
        Peer(
            client_id=row.client_id,
            first_seen=from_ms(row.first_seen_ms) if row.first_seen_ms else None,
            last_seen=from_ms(row.last_seen_ms) if row.last_seen_ms else None,
            shared_sessions=shared.get(row.client_id, []),
        )
        for row in Client.select()
        .where((Client.client_id != caller) & known)
        .order_by(Client.client_id)
    ]


def last_seen_ms_of(client_ids: Iterable[str]) -> dict[str, int | None]:
    """When each of ``client_ids`` last called the relay, in milliseconds (None: never); unknown
    ids left out."""
    wanted = list(client_ids)
    if not wanted:
        return {}
    rows = cast(
        "Iterable[tuple[str, int | None]]",
        Client.select(Client.client_id, Client.last_seen_ms)
        .where(dialect().in_list(Client.client_id, wanted))
        .tuples(),
    )
    return {client_id: ms or None for client_id, ms in rows}

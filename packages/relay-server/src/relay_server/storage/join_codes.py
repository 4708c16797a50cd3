"""Join codes: stored by the SHA-256 of their secret, spent once, forgotten after expiry.

Plain functions over the models; they run inside whatever transaction the caller opened.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay_server.storage.models import JoinCode


@dataclass(frozen=True)
class StoredJoinCode:
    """A join code as stored: never its secret."""

    client_id: str | None
    sealed_token: str | None
    expires_ms: int
    used_ms: int | None


def add_join_code(
    code_hash: str,
    *,
    client_id: str | None,
    sealed_token: str | None,
    created_ms: int,
    expires_ms: int,
) -> None:
    """Store a new code."""
    JoinCode.create(
        code_hash=code_hash,
        client_id=client_id,
        sealed_token=sealed_token,
        created_ms=created_ms,
        expires_ms=expires_ms,
    )


def find_join_code(code_hash: str) -> StoredJoinCode | None:
    """The code with this hash, spent or not, or None."""
    row = JoinCode.get_or_none(JoinCode.code_hash == code_hash)
    if row is None:
        return None
    return StoredJoinCode(
        client_id=row.client_id,
        sealed_token=row.sealed_token,
        expires_ms=row.expires_ms,
        used_ms=row.used_ms,
    )


def spend_join_code(code_hash: str, stamp: int, used_by: str) -> bool:
    """Mark the code used by ``used_by``; False when it was spent or had expired already.

    One conditional update, so two exchanges of the same code cannot both succeed.
    """
    spent: int = (
        JoinCode.update(used_ms=stamp, used_by=used_by, sealed_token=None)
        .where(
            (JoinCode.code_hash == code_hash)
            & JoinCode.used_ms.is_null()
            & (JoinCode.expires_ms > stamp)
        )
        .execute()
    )
    return spent == 1


def forget_join_codes(before_ms: int) -> int:
    """Delete the codes that expired before ``before_ms``; how many."""
    deleted: int = JoinCode.delete().where(JoinCode.expires_ms < before_ms).execute()
    return deleted

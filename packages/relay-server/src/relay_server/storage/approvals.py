"""Approvals and client settings: their rows, the audit trail, answers made as compare-and-set.

Plain functions over the tables of ``m009_approvals``; they run inside whatever transaction the
caller opened. An answer changes a row only while it is pending and not yet expired: of two
racing answers exactly one sees its update count 1. ``expired`` is never stored: a pending row
past its ``expires_ms`` reads as expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from peewee import (
    BigAutoField,
    BigIntegerField,
    CharField,
    CompositeKey,
    ForeignKeyField,
    TextField,
)

from relay_server.storage.models import BaseModel, dialect

PENDING = "pending"


class ClientSettingRow(BaseModel):
    """A client's settings; absent means the defaults (no approvers, push from anyone)."""

    client_id = CharField(primary_key=True, max_length=64)
    approvers = TextField(default="")
    push_from = TextField(null=True)

    class Meta:
        table_name = "client_setting"


class ApprovalRow(BaseModel):
    """One permission prompt relayed from a client's Claude Code."""

    id = BigAutoField()
    request_id = TextField()
    requester = CharField(max_length=64)
    mcp_session = TextField(default="")
    tool = TextField()
    description = TextField(default="")
    input_preview = TextField(default="")
    state = CharField(max_length=16)
    created_ms = BigIntegerField()
    expires_ms = BigIntegerField()
    decided_by = CharField(max_length=64, null=True)
    decided_ms = BigIntegerField(null=True)
    note = TextField(default="")

    class Meta:
        table_name = "approval"


class ApprovalApproverRow(BaseModel):
    """Who may answer an approval (the requester's approvers when it arrived)."""

    approval = ForeignKeyField(ApprovalRow, on_delete="CASCADE")
    client_id = CharField(max_length=64)

    approval_id: int

    class Meta:
        table_name = "approval_approver"
        primary_key = CompositeKey("approval", "client_id")


class ApprovalEventRow(BaseModel):
    """One line of an approval's audit trail."""

    id = BigAutoField()
    approval = ForeignKeyField(ApprovalRow, on_delete="CASCADE")
    at_ms = BigIntegerField()
    actor = CharField(max_length=64)
    action = TextField()
    note = TextField(default="")

    approval_id: int

    class Meta:
        table_name = "approval_event"


@dataclass(frozen=True)
class Settings:
    """A client's settings as stored."""

    approvers: list[str]
    push_from: list[str] | None


def settings_of(client_id: str) -> Settings:
    """The client's settings, or the defaults."""
    row: ClientSettingRow | None = ClientSettingRow.get_or_none(
        ClientSettingRow.client_id == client_id
    )
    if row is None:
        return Settings([], None)
    push_from = None if row.push_from is None else row.push_from.split()
    return Settings(row.approvers.split(), push_from)


def save_settings(client_id: str, settings: Settings) -> None:
    """Store the client's settings, replacing any."""
    approvers = " ".join(settings.approvers)
    push_from = None if settings.push_from is None else " ".join(settings.push_from)
    ClientSettingRow.insert(
        client_id=client_id, approvers=approvers, push_from=push_from
    ).on_conflict(
        conflict_target=[ClientSettingRow.client_id],
        update={ClientSettingRow.approvers: approvers, ClientSettingRow.push_from: push_from},
    ).execute()


def add(row: ApprovalRow, approvers: Sequence[str]) -> int:
    """Store a new approval and who may answer it; its id."""
    row.save(force_insert=True)
    ApprovalApproverRow.insert_many(
        [{"approval": row.id, "client_id": client} for client in approvers]
    ).execute()
    return int(row.id)


def log(approval_id: int, at_ms: int, actor: str, action: str, note: str = "") -> None:
    """Add a line to the approval's audit trail."""
    ApprovalEventRow.create(
        approval=approval_id, at_ms=at_ms, actor=actor, action=action, note=note
    )


def get(approval_id: int) -> ApprovalRow | None:
    """The approval, if it exists."""
    row: ApprovalRow | None = ApprovalRow.get_or_none(ApprovalRow.id == approval_id)
    return row


def approvers_of(approval_ids: Sequence[int]) -> dict[int, list[str]]:
    """Approval id -> who may answer it, sorted."""
    if not approval_ids:
        return {}
    rows = (
        ApprovalApproverRow.select(ApprovalApproverRow.approval, ApprovalApproverRow.client_id)
        .where(dialect().in_list(ApprovalApproverRow.approval, approval_ids))
        .order_by(ApprovalApproverRow.client_id)
        .tuples()
    )
    found: dict[int, list[str]] = {i: [] for i in approval_ids}
    for approval_id, client_id in cast("Iterable[tuple[int, str]]", rows):
        found[approval_id].append(client_id)
    return found


def events_of(approval_id: int) -> list[ApprovalEventRow]:
    """The approval's audit trail, oldest first."""
    query = ApprovalEventRow.select().where(ApprovalEventRow.approval == approval_id)
    return list(query.order_by(ApprovalEventRow.id))


def visible_to(
    caller: str, *, pending_at: int | None, after_id: int, limit: int
) -> list[ApprovalRow]:
    """Approvals the caller asked for or may answer, oldest first, after ``after_id``; only
    those still pending at ``pending_at`` when it is given."""
    answerable = ApprovalApproverRow.select(ApprovalApproverRow.approval).where(
        ApprovalApproverRow.client_id == caller
    )
    where = ((ApprovalRow.requester == caller) | ApprovalRow.id.in_(answerable)) & (
        ApprovalRow.id > after_id
    )
    if pending_at is not None:
        where &= (ApprovalRow.state == PENDING) & (ApprovalRow.expires_ms > pending_at)
    return list(ApprovalRow.select().where(where).order_by(ApprovalRow.id).limit(limit))


def decide(approval_id: int, state: str, by: str, at_ms: int, note: str) -> bool:
    """Record the answer if the approval is still pending and unexpired at ``at_ms``."""
    changed = (
        ApprovalRow.update(state=state, decided_by=by, decided_ms=at_ms, note=note)
        .where(
            (ApprovalRow.id == approval_id)
            & (ApprovalRow.state == PENDING)
            & (ApprovalRow.expires_ms > at_ms)
        )
        .execute()
    )
    return int(changed) == 1

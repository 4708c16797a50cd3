"""Text for people: sizes, times, messages and sessions as the commands print them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from relay_core import Message, SessionDetail

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


class Namer(Protocol):
    """Anything that turns a client id into the name to show (the App)."""

    def who(self, client_id: str) -> str: ...


def format_bytes(size: int) -> str:
    """``512 B``, ``1.5 MiB``."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_time(moment: datetime | None) -> str:
    """A timestamp in local time, to the second; ``-`` for none."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def format_ago(moment: datetime | None) -> str:
    """How long ago, or ``never``."""
    if moment is None:
        return "never"
    return format_duration(max(0.0, (datetime.now(UTC) - moment).total_seconds())) + " ago"


def message_text(message: Message, namer: Namer) -> str:
    """A message as a block: a header line, the text indented, one line per attachment."""
    header = f"#{message.id}  {format_time(message.created_at)}  {namer.who(message.sender)}"
    if message.to:
        header += " -> " + ", ".join(namer.who(client) for client in message.to)
    if message.reply_to is not None:
        header += f"  (reply to #{message.reply_to})"
    lines = [header]
    lines += ["    " + line for line in (message.text.splitlines() or [""])]
    lines += [
        f"    [file] {a.filename}  {format_bytes(a.size)}  sha256 {a.sha256[:12]}  "
        f"(agent-relay fetch-file {message.id})"
        for a in message.attachments
    ]
    return "\n".join(lines)


def session_text(detail: SessionDetail, namer: Namer) -> str:
    """A session with its participants."""
    state = f"closed {format_time(detail.closed_at)}" if detail.closed_at else "open"
    lines = [
        f"session     {detail.name} ({state})",
        f"created     {format_time(detail.created_at)} by {namer.who(detail.created_by)}",
    ]
    if detail.description:
        lines.append(f"about       {detail.description}")
    last = f"#{detail.last_message_id}" if detail.last_message_id is not None else "none"
    lines.append(f"messages    last {last}, {detail.unread} unread")
    lines.append("participants")
    lines += [
        f"  {namer.who(p.client_id):<24} joined {format_time(p.joined_at)}, "
        f"last seen {format_ago(p.last_seen)}, read up to #{p.last_read_id}"
        for p in detail.participants
    ]
    return "\n".join(lines)

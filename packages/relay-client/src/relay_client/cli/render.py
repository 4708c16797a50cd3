"""Text for people: sizes, times, messages and sessions as the commands print them.

Everything the relay or another person supplies (message texts, descriptions, file names,
versions, error messages, roster notes) goes through :func:`visible` or :func:`visible_lines`
before it reaches a terminal. Those make control characters visible and harmless: a sender can
neither move the cursor, erase or recolour what is printed, set the window title (escape
sequences, OSC codes), return to the start of a line, nor reorder text with bidi overrides.
``--json`` keeps every value exact; :func:`json_safe` only spells such characters as JSON
escapes, which decode to the same text.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from relay_core import Message, SessionDetail

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
BODY_INDENT: Final = "    "
"""Every line of a message body starts with this, so no body line can pass for a header."""
_KEPT_FORMAT_CHARS: Final = frozenset("\u200c\u200d")
"""Zero-width (non-)joiners: needed by emoji sequences and several scripts, harmless on screen."""
_SHOWN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _is_hidden(ch: str) -> bool:
    """True for characters a terminal acts on or draws invisibly (C0, DEL, C1, bidi, ...)."""
    return unicodedata.category(ch) in _SHOWN_CATEGORIES and ch not in _KEPT_FORMAT_CHARS


def _escape(ch: str) -> str:
    point = ord(ch)
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"<U+{point:04X}>"


def visible(text: str) -> str:
    """One line of text with every control or invisible format character spelled out.

    ESC becomes ``\\x1b``, a line break ``\\x0a``, a right-to-left override ``<U+202E>``;
    ordinary text, including any script and emoji, is unchanged.
    """
    return "".join(_escape(ch) if _is_hidden(ch) else ch for ch in text)


def visible_lines(text: str) -> list[str]:
    """A multi-line text (a message body) as lines to print: only line breaks and tabs kept.

    The text is split on ``\\n`` alone; a carriage return, form feed or Unicode line
    separator is spelled out like any other control character, so it can neither start a
    line of its own nor return to the start of one.
    """
    return [
        "".join(ch if ch == "\t" or not _is_hidden(ch) else _escape(ch) for ch in line)
        for line in text.split("\n")
    ]


_BEYOND_ASCII: Final = re.compile(r"[^\x00-\x7e]")
"""What json.dumps(ensure_ascii=False) can leave raw that a terminal might act on."""


def json_safe(text: str) -> str:
    """JSON text with control and invisible format characters written as ``\\uXXXX`` escapes.

    ``json.dumps(..., ensure_ascii=False)`` already escapes C0 controls; this covers the rest
    (DEL, C1, bidi, line separators, lone surrogates). The JSON decodes to the same values.
    """

    def escape(match: re.Match[str]) -> str:
        point = ord(match.group())
        if not _is_hidden(match.group()):
            return match.group()
        if point > 0xFFFF:
            point -= 0x10000
            return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"
        return f"\\u{point:04x}"

    return _BEYOND_ASCII.sub(escape, text)


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


def message_text(message: Message, namer: Namer, width: int | None = None) -> str:
    """A message as a block: a header line, the text indented, one line per attachment.

    With ``width`` (the terminal's columns), long body lines are wrapped here, indented, rather
    than by the terminal, whose wrapped rows would start at the left edge where a header does.
    """
    who = visible(namer.who(message.sender))
    header = f"#{message.id}  {format_time(message.created_at)}  {who}"
    if message.to:
        header += " -> " + ", ".join(visible(namer.who(client)) for client in message.to)
    if message.reply_to is not None:
        header += f"  (reply to #{message.reply_to})"
    lines = [header]
    for line in visible_lines(message.text.removesuffix("\n")):
        lines += [BODY_INDENT + row for row in _wrapped(line, width)]
    lines += [
        f"{BODY_INDENT}[file] {visible(a.filename)}  {format_bytes(a.size)}  "
        f"sha256 {a.sha256[:12]}  "
        f"(agent-relay fetch-file {message.id})"
        for a in message.attachments
    ]
    return "\n".join(lines)


def _wrapped(line: str, width: int | None) -> list[str]:
    """``line`` cut into rows that fit ``width`` columns after the body indent (tabs expanded)."""
    if width is None:
        return [line]
    room = max(width - len(BODY_INDENT), 8)
    rows: list[str] = []
    row: list[str] = []
    column = 0
    for ch in line:
        size = _tab_size(column) if ch == "\t" else _columns(ch)
        if column + size > room and row:
            rows.append("".join(row))
            row, column = [], 0
            size = _tab_size(column) if ch == "\t" else size
        row.append(" " * size if ch == "\t" else ch)
        column += size
    rows.append("".join(row))
    return rows


def _tab_size(column: int) -> int:
    """Columns a tab takes at ``column`` of a body row (tab stops count from the left edge)."""
    return 8 - (len(BODY_INDENT) + column) % 8


def _columns(ch: str) -> int:
    """How many terminal columns a character takes: 0 for combining marks, 2 for wide ones."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in {"Mn", "Me", "Cf"}:
        return 0
    return 2 if unicodedata.east_asian_width(ch) in {"W", "F"} else 1


def session_text(detail: SessionDetail, namer: Namer) -> str:
    """A session with its participants."""
    state = f"closed {format_time(detail.closed_at)}" if detail.closed_at else "open"
    lines = [
        f"session     {detail.name} ({state})",
        f"created     {format_time(detail.created_at)} by {namer.who(detail.created_by)}",
    ]
    if detail.description:
        lines.append(f"about       {visible(detail.description)}")
    last = f"#{detail.last_message_id}" if detail.last_message_id is not None else "none"
    lines.append(f"messages    last {last}, {detail.unread} unread")
    lines.append("participants")
    lines += [
        f"  {namer.who(p.client_id):<24} joined {format_time(p.joined_at)}, "
        f"last seen {format_ago(p.last_seen)}, read up to #{p.last_read_id}"
        for p in detail.participants
    ]
    if detail.roles:
        lines.append("roles")
        lines += [f"  @{role:<23} {namer.who(who)}" for role, who in sorted(detail.roles.items())]
    return "\n".join(lines)

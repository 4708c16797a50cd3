"""Names that identify clients, sessions and peers, and file names of attachments.

A name is 1-64 characters of lowercase letters, digits, ``-``, ``_`` and ``.``, starts with a letter
or digit, does not end in ``.`` (Windows drops trailing dots) and never contains ``..``. That
makes every valid name a safe file name on every platform we run on, which is why cursor files and
the like can be named after sessions.

Use the ``Annotated`` aliases (:data:`ClientId`, :data:`SessionName`, :data:`PeerName`) in pydantic
models and the ``validate_*`` functions everywhere else; both raise :class:`InvalidInput` with a
sentence that says what was wrong and what is allowed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Final

from relay_core.errors import InvalidInput, pydantic_check, shown

NAME_MAX_CHARS: Final = 64
FILENAME_MAX_BYTES: Final = 255
"""Attachment names are limited in UTF-8 bytes: ext4, btrfs, APFS and NTFS all stop near 255."""
NAME_RULE: Final = (
    "1-64 characters: lowercase letters, digits, '-', '_' and '.', "
    "starting with a letter or digit, not ending in '.', without '..'"
)

_NAME_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?")
_WINDOWS_RESERVED: Final = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)
"""Device names Windows opens instead of a file, whatever the extension (``nul.txt`` too)."""
_WINDOWS_FORBIDDEN_CHARS: Final = frozenset('<>:"|?*')
_HIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def validate_name(value: object, kind: str = "name") -> str:
    """Return ``value`` if it is a valid name, else raise :class:`InvalidInput`.

    ``kind`` ("session name", "client id", ...) starts the error message.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{kind} must be a string, got {type(value).__name__}")
    if not _NAME_RE.fullmatch(value):
        hint = ""
        if value and value.lower() != value and _NAME_RE.fullmatch(value.lower()):
            hint = f" (did you mean {value.lower()!r}?)"
        raise InvalidInput(f"{kind} {shown(value)} is not valid: use {NAME_RULE}{hint}")
    if ".." in value:
        raise InvalidInput(f"{kind} {shown(value)} is not valid: it contains '..'")
    return value


def validate_client_id(value: object) -> str:
    """Validate a client id (the identity of one agent machine or person).

    Reserved ids pass: the relay's own messages carry :data:`RELAY_SENDER` as their sender.
    Where a client takes an id as its own, use :func:`validate_client_identity`.
    """
    return validate_name(value, "client id")


RELAY_SENDER: Final = "relay"
"""The sender of the messages the relay itself writes (bounces)."""
RESERVED_CLIENT_IDS: Final = frozenset({RELAY_SENDER})
"""Client ids the relay uses itself, which no client may take: a client called ``relay`` could
write messages that read as the relay's, and would read the relay's notices to others as their
sender."""


def validate_client_identity(value: object) -> str:
    """Validate a client id that a client takes as its own (registers, authenticates as, is
    invited as): a valid client id that the relay does not use itself.

    Raises:
        InvalidInput: not a valid client id, or one of :data:`RESERVED_CLIENT_IDS`.
    """
    validate_client_id(value)
    if value in RESERVED_CLIENT_IDS:
        raise InvalidInput(
            f"client id {value!r} is reserved: the relay sends its own notices (reply-by and "
            "expiry) under it; choose another client id"
        )
    return str(value)


def validate_session_name(value: object) -> str:
    """Validate a session name."""
    return validate_name(value, "session name")


def validate_peer_name(value: object) -> str:
    """Validate a peer's friendly name in a local roster."""
    return validate_name(value, "peer name")


ROLE_PREFIX: Final = "@"
"""A recipient written ``@reviewer`` is a role of the session, not a client."""


def validate_role(value: object) -> str:
    """A role name (``reviewer``, without the ``@``): the same rule as every name."""
    return validate_name(value, "role")


def validate_address(value: object) -> str:
    """A recipient: a client id, or ``@`` and a role (whoever holds it when the message is read)."""
    if isinstance(value, str) and value.startswith(ROLE_PREFIX):
        validate_role(value[len(ROLE_PREFIX) :])
        return value
    return validate_client_id(value)


ClientId = Annotated[str, pydantic_check(validate_client_id)]
ClientIdentity = Annotated[str, pydantic_check(validate_client_identity)]
"""A client id a client may hold: not one the relay uses itself (participants, invitees)."""
RoleName = Annotated[str, pydantic_check(validate_role)]
Address = Annotated[str, pydantic_check(validate_address)]
SessionName = Annotated[str, pydantic_check(validate_session_name)]
PeerName = Annotated[str, pydantic_check(validate_peer_name)]


def safe_file_name(name: str, suffix: str = "") -> str:
    """Turn a valid name into a file name that is safe on Linux, macOS and Windows.

    The name is validated again (a path is never built from an unchecked string); names that
    Windows reserves (``con``, ``nul``, ...) get a leading ``_``. ``suffix`` is appended as given.

    Raises:
        InvalidInput: the name is not valid.
    """
    validate_name(name)
    stem = name.split(".", 1)[0]
    prefix = "_" if stem in _WINDOWS_RESERVED else ""
    return f"{prefix}{name}{suffix}"


def validate_filename(value: object) -> str:
    """Validate an attachment's file name: a plain name that every platform can save as is.

    Any printable characters are allowed (people name files ``Q3 report (final).pdf``), except
    what would make the name a path, hide part of it, or change where or how Windows, macOS or
    Linux saves it: ``/``, ``\\``, the characters Windows forbids (``< > : " | ? *``; a ``:``
    makes ``D:evil.bat`` a drive path and ``a.txt:stream`` a hidden stream), control and
    format characters, a leading or trailing space, a trailing ``.`` (Windows drops it),
    ``.`` or ``..``, device names with or without an extension (``nul.txt``, ``COM1.log``,
    ``CONIN$``, ``COM¹``), and more than 255 bytes of UTF-8, the limit of common file systems.

    Raises:
        InvalidInput: naming the first rule the name breaks.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"file name must be a string, got {type(value).__name__}")
    problem = filename_problem(value)
    if problem:
        raise InvalidInput(f"file name {shown(value)} is not valid: {problem}")
    return value


def filename_problem(value: str) -> str | None:  # pragma: no mutate (an annotation)
    """Why ``value`` is not a valid attachment file name, or None when it is."""
    if not value:
        return "it is empty"
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > FILENAME_MAX_BYTES:
        return f"it is {size} bytes of UTF-8; the limit is {FILENAME_MAX_BYTES}"
    if value in {".", ".."}:
        return "it is not a file name"
    if "/" in value or "\\" in value:
        return "it contains a path separator; give the file name only"
    if any(unicodedata.category(ch) in _HIDDEN_CATEGORIES for ch in value):
        return "it contains control, format or unassigned characters"
    forbidden = sorted(set(value) & _WINDOWS_FORBIDDEN_CHARS)
    if forbidden:
        listed = " ".join(forbidden)
        return f"it contains {listed}, which Windows does not allow in file names"
    if value != value.strip():
        return "it starts or ends with white space"
    if value.endswith("."):
        return "it ends with '.', which Windows drops"
    if _is_windows_device(value):
        return "Windows reserves it for a device (with any extension)"
    return None


def safe_filename(value: str) -> str:
    """A file name to save an attachment under: ``value`` itself when it is valid.

    Names stored before the rules of :func:`validate_filename` were tightened, or sent by an
    older relay, are mapped to a valid name rather than refused, so every attachment can be
    saved: forbidden and hidden characters become ``_``, a device name gets a leading ``_``, a
    trailing dot or space goes, and a name over the byte limit is shortened, keeping its
    extension. The result always passes :func:`validate_filename`.
    """
    if filename_problem(value) is None:
        return value
    cleaned = "".join(
        "_"
        if ch in _WINDOWS_FORBIDDEN_CHARS
        or ch in "/\\"
        or unicodedata.category(ch) in _HIDDEN_CATEGORIES
        else ch
        for ch in value
    )
    cleaned = cleaned.strip().rstrip(". ").strip()
    if not cleaned or set(cleaned) <= {"."}:
        cleaned = "_"
    if _is_windows_device(cleaned):
        cleaned = "_" + cleaned
    cleaned = _shorten(cleaned, FILENAME_MAX_BYTES)
    return cleaned if filename_problem(cleaned) is None else "_"


def _is_windows_device(value: str) -> bool:
    # Windows looks at the part before the first dot, without trailing spaces, any case.
    return value.partition(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES


def _shorten(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes, keeping a short extension, on a character boundary."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode("utf-8")) > 16:
        stem, extension = name, ""
    tail = f".{extension}" if extension else ""
    room = limit - len(tail.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(". ")
    return (cut or "_") + tail


FileName = Annotated[str, pydantic_check(validate_filename)]

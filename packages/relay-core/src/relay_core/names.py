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
FILENAME_MAX_CHARS: Final = 255
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
    """Validate a client id (the identity of one agent machine or person)."""
    return validate_name(value, "client id")


def validate_session_name(value: object) -> str:
    """Validate a session name."""
    return validate_name(value, "session name")


def validate_peer_name(value: object) -> str:
    """Validate a peer's friendly name in a local roster."""
    return validate_name(value, "peer name")


ClientId = Annotated[str, pydantic_check(validate_client_id)]
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
    """Validate an attachment's file name: a plain name, never a path.

    Any printable characters are allowed (people name files ``Q3 report (final).pdf``), but not
    ``/``, ``\\``, control characters, a leading or trailing space, ``.`` or ``..``, or more than
    255 characters.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"file name must be a string, got {type(value).__name__}")
    problem = None
    if not value:
        problem = "it is empty"
    elif len(value) > FILENAME_MAX_CHARS:
        problem = f"it is longer than {FILENAME_MAX_CHARS} characters"
    elif value in {".", ".."}:
        problem = "it is not a file name"
    elif "/" in value or "\\" in value:
        problem = "it contains a path separator; give the file name only"
    elif any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in value):
        problem = "it contains control or unassigned characters"
    elif value != value.strip():
        problem = "it starts or ends with white space"
    if problem:
        raise InvalidInput(f"file name {shown(value)} is not valid: {problem}")
    return value


FileName = Annotated[str, pydantic_check(validate_filename)]

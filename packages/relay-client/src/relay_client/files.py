"""Reading and writing the client's state files safely.

Every write is atomic: the bytes go to a temporary file in the same directory, are fsynced, and
the temporary file is renamed over the target with :func:`os.replace`, so a reader (or a crash)
sees the old file or the new one, never half of one. Every read error names the file and, where
it can be known, the line, because these files are meant to be edited by hand.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from relay_core import InvalidInput

DIR_MODE = 0o700
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


class StateFileError(InvalidInput):
    """A state file under the data root is unreadable, corrupt or breaks a rule."""

    def __init__(self, path: Path, problem: str, *, line: int | None = None) -> None:
        where = f"{path} line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}", details={"path": str(path), "line": line})
        self.path = path
        self.line = line


def write_atomic(path: Path, data: bytes, *, mode: int = PUBLIC_MODE) -> None:
    """Replace ``path`` with ``data`` atomically, creating its directory if needed.

    The file gets ``mode`` before any byte is written, so a token is never readable by others,
    not even for an instant.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_text(path: Path) -> str | None:
    """A state file's text, or None when it does not exist.

    Raises:
        StateFileError: it cannot be read or is not UTF-8.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise StateFileError(path, "not UTF-8 text", line=line) from None
    except OSError as exc:
        raise StateFileError(path, f"cannot read it: {exc.strerror or exc}") from None


def parse_toml(path: Path, text: str) -> dict[str, Any]:
    """Parse TOML text read from ``path``.

    Raises:
        StateFileError: the text is not valid TOML; names the line tomllib reports.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.14 gives .msg/.lineno; older versions only put "(at line N, column M)" in text.
        line = getattr(exc, "lineno", None)
        message = getattr(exc, "msg", None) or str(exc)
        if line is None:
            match = re.search(r"\(at line (\d+), column \d+\)$", message)
            if match:
                line = int(match.group(1))
                message = message[: match.start()].rstrip()
        raise StateFileError(path, f"not valid TOML: {message}", line=line) from None


def line_of_key(text: str, key: str, *, after_line: int = 0) -> int | None:
    """The 1-based line where ``key = ...`` is first assigned after ``after_line``, if found."""
    pattern = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    for number, line in enumerate(text.splitlines()[after_line:], start=after_line + 1):
        if pattern.match(line):
            return number
    return None


def mode_is_private(path: Path) -> bool:
    """True when nobody but the owner may read or write ``path``."""
    return path.stat().st_mode & 0o077 == 0

"""``cursors/<session>.txt``: the last message id this machine has shown for each session.

One integer per file, written atomically. ``agent-relay tail`` starts after the cursor and moves
it to the last message it printed; nothing else moves it (not even ``send``: a reply that arrived
before your own message has a smaller id and would be skipped). Session names are validated and
made safe (:func:`relay_core.safe_file_name`) before they become file names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from relay_client.files import StateFileError, read_text, write_atomic
from relay_core import InvalidInput, safe_file_name, validate_session_name

CURSOR_SUFFIX: Final = ".txt"


class Cursors:
    """The cursor files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, session: str) -> Path:
        """The cursor file of ``session``.

        Raises:
            InvalidInput: the session name is not valid.
        """
        validate_session_name(session)
        return self.directory / safe_file_name(session, CURSOR_SUFFIX)

    def get(self, session: str) -> int | None:
        """The last message id shown for ``session``, or None when there is no cursor yet.

        Raises:
            InvalidInput: the session name is not valid.
            StateFileError: the file does not hold one non-negative integer.
        """
        path = self.path_for(session)
        text = read_text(path)
        if text is None:
            return None
        return _parse(path, text)

    def set(self, session: str, message_id: int) -> None:
        """Write ``message_id`` as the cursor of ``session`` (atomically)."""
        if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id < 0:
            raise InvalidInput(f"a cursor is a non-negative integer, got {message_id!r}")
        write_atomic(self.path_for(session), f"{message_id}\n".encode("ascii"))

    def advance(self, session: str, message_id: int) -> int:
        """Move the cursor of ``session`` to ``message_id`` unless it is already further on.

        Returns the cursor afterwards.
        """
        current = self.get(session)
        if current is not None and current >= message_id:
            return current
        self.set(session, message_id)
        return message_id

    def remove(self, session: str) -> bool:
        """Delete the cursor of ``session``; True if there was one."""
        try:
            self.path_for(session).unlink()
        except FileNotFoundError:
            return False
        return True

    def all(self) -> dict[str, int]:
        """Every cursor, by session name.

        Raises:
            StateFileError: a cursor file is corrupt.
        """
        if not self.directory.is_dir():
            return {}
        result: dict[str, int] = {}
        for path in sorted(self.directory.glob(f"*{CURSOR_SUFFIX}")):
            # Valid names start with a letter or digit, so a leading "_" is safe_file_name's
            # prefix for a name Windows reserves.
            session = path.name.removesuffix(CURSOR_SUFFIX).removeprefix("_")
            text = read_text(path)
            if text is not None:
                result[session] = _parse(path, text)
        return result


def _parse(path: Path, text: str) -> int:
    lines = text.splitlines()
    content = [(number, line.strip()) for number, line in enumerate(lines, 1) if line.strip()]
    if len(content) != 1:
        line = content[1][0] if len(content) > 1 else 1
        raise StateFileError(path, "a cursor file holds exactly one message id", line=line)
    number, value = content[0]
    if not value.isascii() or not value.isdigit():
        raise StateFileError(path, f"{value[:40]!r} is not a message id", line=number)
    return int(value)

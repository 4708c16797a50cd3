"""What the maintenance commands report: one :class:`Problem` per thing wrong, and their reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

DATABASE: Final = "database"
FOREIGN_KEY: Final = "foreign-key"
MIGRATION: Final = "migration"
CORRUPT_BLOB: Final = "corrupt-blob"
MISSING_BLOB: Final = "missing-blob"
TEMP_FILE: Final = "temp-file"
CORRUPT_COPY: Final = "corrupt-copy"
UNEXPECTED_FILE: Final = "unexpected-file"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data, and what a repair did about it."""

    kind: str
    """What is wrong: ``database``, ``corrupt-blob``, ``temp-file``, ... (the constants above)."""
    subject: str
    """Which thing: a path relative to the data dir, a table row, a digest, a migration."""
    detail: str
    """What is wrong with it, for a person."""
    repaired: str | None = None
    """What ``--repair`` did, or None when the problem remains."""

    def line(self) -> str:
        """The one-line form ``check`` prints."""
        text = f"{self.kind}: {self.subject}: {self.detail}"
        return f"{text} -> {self.repaired}" if self.repaired else text


@dataclass
class CheckReport:
    """What ``check`` looked at and found."""

    problems: list[Problem] = field(default_factory=list)
    messages: int = 0
    attachments: int = 0
    blobs: int = 0
    """Blobs whose digest was verified (good and bad)."""
    blob_bytes: int = 0
    uploads_in_flight: int = 0
    """Temp files an upload was still writing (left alone)."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong any more (no problems, or every one repaired)."""
        return all(problem.repaired for problem in self.problems)


@dataclass
class BackupReport:
    """What ``backup`` wrote."""

    path: Path
    manifest: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every blob the snapshot references is in the backup, verified."""
        return not self.problems

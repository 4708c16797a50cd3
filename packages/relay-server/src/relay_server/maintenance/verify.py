"""``check`` (with ``--repair``): find what is wrong with a relay's database and blob store.

Finds, one :class:`~relay_server.maintenance.report.Problem` each: database corruption and rows
pointing at missing rows (the backend's checks), a schema that does not match this version's
migrations, blobs whose bytes do not hash to their name, attachments whose blob is missing, temp
files left by crashed uploads, copies the relay set aside after a failed verification, and files
the store does not know. With ``repair`` it moves bad blobs and set-aside copies into
``<data_dir>/quarantine/`` (never deleting them) and removes leftover temp files; database
problems and missing blobs are reported, not repaired.

The database is read *before* the blobs are scanned. An attachment row is only ever written for
a blob already stored, and a referenced blob is never collected, so every blob referenced by the
snapshot still exists when the scan reaches it: a blob missing then was missing for real, not
uploaded after we looked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

from relay_core.blobs import CHUNK_BYTES, StreamingHash
from relay_server import __version__
from relay_server.config import ServerConfig
from relay_server.maintenance.backend import maintenance_for
from relay_server.maintenance.report import (
    CORRUPT_BLOB,
    CORRUPT_COPY,
    DATABASE,
    FOREIGN_KEY,
    MIGRATION,
    MISSING_BLOB,
    TEMP_FILE,
    UNEXPECTED_FILE,
    CheckReport,
    Problem,
)
from relay_server.storage.blobs.files import (
    BLOB_RE,
    claim_leftover,
    file_identity,
    quarantine,
    scan_store,
)
from relay_server.storage.migrations import MIGRATIONS
from relay_server.storage.sqlite.maintenance import DatabaseCheck, Snapshot


def check(config: ServerConfig, *, repair: bool = False) -> CheckReport:
    """Check the database and every blob of the relay ``config`` describes; see the module doc.

    Safe while the relay runs. With ``repair``, moves bad blobs and set-aside copies into
    ``<data_dir>/quarantine/`` and removes temp files no upload is writing.

    Raises:
        InvalidInput: there is no database at the configured path.
    """
    report = CheckReport()
    backend = maintenance_for(config)
    found = backend.check()
    if found.unreadable is not None:
        report.problems.append(Problem(DATABASE, backend.name, found.unreadable))
    else:
        report.problems += _database_problems(found)
    snapshot = found.snapshot
    report.messages = snapshot.messages
    report.attachments = sum(count for count, _ in snapshot.referenced.values())
    _check_store(config, report, repair)
    report.problems += _missing_blobs(config.blobs_dir, snapshot)
    return report


def _database_problems(found: DatabaseCheck) -> list[Problem]:
    problems = [Problem(DATABASE, "integrity_check", line) for line in found.integrity]
    for table, rowid, parent in found.orphans:
        problems.append(
            Problem(FOREIGN_KEY, f"{table} row {rowid}", f"points at a missing {parent} row")
        )
    known = [migration.__name__ for migration in MIGRATIONS]
    applied = found.snapshot.applied
    if not applied:
        problems.append(Problem(MIGRATION, "schema", "no migrations applied: not a relay database"))
        return problems
    for name in known:
        if name not in applied:
            problems.append(
                Problem(MIGRATION, name, "not applied (the relay applies it when it starts)")
            )
    for name in applied:
        if name not in known:
            problems.append(
                Problem(MIGRATION, name, f"applied, but unknown to relay {__version__} (newer?)")
            )
    return problems


def _check_store(config: ServerConfig, report: CheckReport, repair: bool) -> None:
    """Look at every entry of the blob store, adding a problem for each bad one."""
    data_dir = config.data_dir
    for entry in scan_store(config.blobs_dir):
        where = _shown_path(entry.path, data_dir)
        if entry.kind == "blob":
            problem = _check_blob(data_dir, entry.path, where, report, repair)
        elif entry.kind == "temp":
            problem = _check_temp(entry.path, where, report, repair)
        elif entry.kind == "corrupt":
            problem = Problem(CORRUPT_COPY, where, "set aside by the relay: it failed verification")
            if repair and (aside := quarantine(data_dir, entry.path)):
                problem = _repaired(problem, f"moved to {aside.relative_to(data_dir)}")
        else:
            problem = Problem(UNEXPECTED_FILE, where, "not a blob, temp file or fan-out directory")
        if problem is not None:
            report.problems.append(problem)


def _missing_blobs(root: Path, snapshot: Snapshot) -> list[Problem]:
    problems = []
    for sha256, (count, first) in sorted(snapshot.referenced.items()):
        if not BLOB_RE.fullmatch(sha256):
            problems.append(
                Problem(MISSING_BLOB, repr(sha256), f"not a digest, in message {first}")
            )
        elif not (root / sha256[:2] / sha256).is_file():
            problems.append(
                Problem(
                    MISSING_BLOB,
                    sha256,
                    f"attached {count} time(s) (first in message {first}) but not in the store",
                )
            )
    return problems


def _shown_path(path: Path, data_dir: Path) -> str:
    return str(path.relative_to(data_dir) if path.is_relative_to(data_dir) else path)


def _repaired(problem: Problem, what: str) -> Problem:
    return Problem(problem.kind, problem.subject, problem.detail, what)


def _hash_open_file(handle: BinaryIO) -> StreamingHash:
    digest = StreamingHash()
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest


def _check_blob(
    data_dir: Path, path: Path, where: str, report: CheckReport, repair: bool
) -> Problem | None:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None  # collected or set aside while we looked
    with handle:
        identity = file_identity(os.fstat(handle.fileno()))
        digest = _hash_open_file(handle)
    report.blobs += 1
    report.blob_bytes += digest.size
    if digest.hexdigest() == path.name:
        return None
    problem = Problem(CORRUPT_BLOB, where, f"{digest.size} bytes that hash to {digest.hexdigest()}")
    if repair and (aside := quarantine(data_dir, path, identity)):
        return _repaired(problem, f"moved to {aside.relative_to(data_dir)}")
    return problem


def _check_temp(path: Path, where: str, report: CheckReport, repair: bool) -> Problem | None:
    with claim_leftover(path) as claimed:
        if not claimed:
            report.uploads_in_flight += 1
            return None
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        problem = Problem(TEMP_FILE, where, f"{size} bytes left by an upload that never finished")
        if repair:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            problem = _repaired(problem, "removed")
    return problem

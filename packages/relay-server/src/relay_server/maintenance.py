"""Upkeep of a relay's data: ``check`` (with ``--repair``) and ``backup``, safe while it serves.

Both read the database through their own SQLite connection (WAL lets them read a consistent
snapshot while the relay writes) and the blob store through the file system. Neither imports the
running relay's state, so they work from another process, before, during or after serving.

**check** finds, one :class:`Problem` each: database corruption (``PRAGMA integrity_check``),
rows pointing at missing rows (``PRAGMA foreign_key_check``), a schema that does not match this
version's migrations, blobs whose bytes do not hash to their name, attachments whose blob is
missing, temp files left by crashed uploads, copies the relay set aside after a failed
verification, and files the store does not know. With ``repair`` it moves bad blobs and set-aside
copies into ``<data_dir>/quarantine/`` (never deleting them) and removes leftover temp files;
database problems and missing blobs are reported, not repaired.

The database is read *before* the blobs are scanned, in both commands. An attachment row is only
ever written for a blob already stored, and a referenced blob is never collected, so every blob
referenced by the snapshot still exists when the scan (or the copy) reaches it: a blob missing
then was missing for real, not uploaded after we looked.

**backup** writes a directory laid out like a data dir: a consistent snapshot of the database
(the SQLite online backup API, in one step, so one read transaction), then a verified copy of
every blob, then ``manifest.json``. It is built under a hidden temporary name next to the target
and renamed into place at the end, so a directory with the target's name is always complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from relay_core import InvalidInput
from relay_core.blobs import CHUNK_BYTES, StreamingHash
from relay_server import __version__
from relay_server.blobstore import TEMP_SUFFIX, claim_leftover
from relay_server.config import BLOBS_DIR, DATABASE_FILE, ServerConfig
from relay_server.storage.migrations import MIGRATIONS

QUARANTINE_DIR: Final = "quarantine"
"""Below the data dir: where ``check --repair`` moves bad blobs; nothing there is deleted."""
MANIFEST_FILE: Final = "manifest.json"
BACKUP_FORMAT: Final = 1
CONFIG_FILE: Final = "config.toml"
RESTORE_SKIP_IDS: Final = 1_000_000
"""How far ``restore`` moves the next message id past the backup's last one, by default."""
SQLITE_TIMEOUT_S: Final = 30.0

DATABASE: Final = "database"
FOREIGN_KEY: Final = "foreign-key"
MIGRATION: Final = "migration"
CORRUPT_BLOB: Final = "corrupt-blob"
MISSING_BLOB: Final = "missing-blob"
TEMP_FILE: Final = "temp-file"
CORRUPT_COPY: Final = "corrupt-copy"
UNEXPECTED_FILE: Final = "unexpected-file"

_FANOUT_RE: Final = re.compile(r"[0-9a-f]{2}")
_BLOB_RE: Final = re.compile(r"[0-9a-f]{64}")
_DIGEST_OF_LEFTOVER_RE: Final = re.compile(r"\.([0-9a-f]{64})\.[0-9a-f]+\.(part|corrupt)")


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


# --- reading the database --------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing database (never creates one)."""
    if not path.is_file():
        raise InvalidInput(f"no relay database at {path}")
    connection = sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_TIMEOUT_S * 1000)}")
    return connection


@dataclass
class _Snapshot:
    """What the blob checks need from the database, read in one transaction."""

    messages: int = 0
    last_message_id: int = 0
    referenced: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Attached digest -> (number of attachments, first message id)."""
    applied: list[str] = field(default_factory=list)


def _read_snapshot(connection: sqlite3.Connection) -> _Snapshot:
    snapshot = _Snapshot()
    connection.execute("BEGIN")
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "applied_migration" in tables:
            snapshot.applied = [
                row[0] for row in connection.execute("SELECT name FROM applied_migration")
            ]
        if "message" in tables:
            snapshot.messages, snapshot.last_message_id = connection.execute(
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM message"
            ).fetchone()
        if "attachment" in tables:
            snapshot.referenced = {
                sha256: (count, first)
                for sha256, count, first in connection.execute(
                    "SELECT sha256, COUNT(*), MIN(message_id) FROM attachment GROUP BY sha256"
                )
            }
    finally:
        if connection.in_transaction:
            connection.execute("COMMIT")
    return snapshot


def _database_problems(connection: sqlite3.Connection, snapshot: _Snapshot) -> list[Problem]:
    problems = [
        Problem(DATABASE, "integrity_check", row[0])
        for row in connection.execute("PRAGMA integrity_check")
        if row[0] != "ok"
    ]
    for table, rowid, parent, _fk in connection.execute("PRAGMA foreign_key_check"):
        problems.append(
            Problem(FOREIGN_KEY, f"{table} row {rowid}", f"points at a missing {parent} row")
        )
    known = [migration.__name__ for migration in MIGRATIONS]
    if not snapshot.applied:
        problems.append(Problem(MIGRATION, "schema", "no migrations applied: not a relay database"))
        return problems
    for name in known:
        if name not in snapshot.applied:
            problems.append(
                Problem(MIGRATION, name, "not applied (the relay applies it when it starts)")
            )
    for name in snapshot.applied:
        if name not in known:
            problems.append(
                Problem(MIGRATION, name, f"applied, but unknown to relay {__version__} (newer?)")
            )
    return problems


# --- hashing and moving blobs ----------------------------------------------------------------


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _hash_open_file(handle: BinaryIO) -> StreamingHash:
    digest = StreamingHash()
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest


def _quarantine(data_dir: Path, path: Path, identity: tuple[int, int] | None = None) -> Path | None:
    """Move ``path`` into the quarantine dir; None when it changed or went away meanwhile.

    With ``identity``, only the very file that was hashed is moved: if an upload replaced it with
    good bytes since, the good copy stays (or is put back, if it was replaced in the instant
    between our look and the move).
    """
    quarantine = data_dir / QUARANTINE_DIR
    quarantine.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = quarantine / f"{path.name.lstrip('.')}.{stamp}.{secrets.token_hex(4)}"
    try:
        if identity is not None and _identity(path.stat()) != identity:
            return None
        try:
            os.rename(path, aside)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # the quarantine is on another file system
                raise
            shutil.move(path, aside)
    except FileNotFoundError:
        return None
    if identity is not None and _identity(aside.stat()) != identity:
        os.replace(aside, path)  # a fresh, verified upload landed just then: put it back
        return None
    return aside


@dataclass
class _StoreEntry:
    """One directory entry of the blob store, classified."""

    path: Path
    kind: str
    """``blob``, ``temp``, ``corrupt`` or ``unexpected``."""


def _scan_store(root: Path) -> Iterator[_StoreEntry]:
    if not root.is_dir():
        return
    for top in sorted(root.iterdir()):
        if not (_FANOUT_RE.fullmatch(top.name) and top.is_dir()):
            yield _StoreEntry(top, "unexpected")
            continue
        for path in sorted(top.iterdir()):
            name = path.name
            if _BLOB_RE.fullmatch(name) and name[:2] == top.name and path.is_file():
                yield _StoreEntry(path, "blob")
            elif (match := _DIGEST_OF_LEFTOVER_RE.fullmatch(name)) and path.is_file():
                yield _StoreEntry(path, "temp" if match[2] == TEMP_SUFFIX[1:] else "corrupt")
            else:
                yield _StoreEntry(path, "unexpected")


# --- check -----------------------------------------------------------------------------------


def check(config: ServerConfig, *, repair: bool = False) -> CheckReport:
    """Check the database and every blob of the relay ``config`` describes; see the module doc.

    Safe while the relay runs. With ``repair``, moves bad blobs and set-aside copies into
    ``<data_dir>/quarantine/`` and removes temp files no upload is writing.

    Raises:
        InvalidInput: there is no database at the configured path.
    """
    report = CheckReport()
    connection = _connect(config.database_path)
    try:
        try:
            snapshot = _read_snapshot(connection)
            report.problems += _database_problems(connection, snapshot)
        except sqlite3.DatabaseError as exc:
            report.problems.append(Problem(DATABASE, config.database_path.name, str(exc)))
            snapshot = _Snapshot()
    finally:
        connection.close()
    report.messages = snapshot.messages
    report.attachments = sum(count for count, _ in snapshot.referenced.values())

    data_dir, root = config.data_dir, config.blobs_dir
    for entry in _scan_store(root):
        where = _shown_path(entry.path, data_dir)
        if entry.kind == "blob":
            problem = _check_blob(data_dir, entry.path, where, report, repair)
        elif entry.kind == "temp":
            problem = _check_temp(entry.path, where, report, repair)
        elif entry.kind == "corrupt":
            problem = Problem(CORRUPT_COPY, where, "set aside by the relay: it failed verification")
            if repair and (aside := _quarantine(data_dir, entry.path)):
                problem = _repaired(problem, f"moved to {aside.relative_to(data_dir)}")
        else:
            problem = Problem(UNEXPECTED_FILE, where, "not a blob, temp file or fan-out directory")
        if problem is not None:
            report.problems.append(problem)

    for sha256, (count, first) in sorted(snapshot.referenced.items()):
        if not _BLOB_RE.fullmatch(sha256):
            report.problems.append(
                Problem(MISSING_BLOB, repr(sha256), f"not a digest, in message {first}")
            )
        elif not (root / sha256[:2] / sha256).is_file():
            report.problems.append(
                Problem(
                    MISSING_BLOB,
                    sha256,
                    f"attached {count} time(s) (first in message {first}) but not in the store",
                )
            )
    return report


def _shown_path(path: Path, data_dir: Path) -> str:
    return str(path.relative_to(data_dir) if path.is_relative_to(data_dir) else path)


def _repaired(problem: Problem, what: str) -> Problem:
    return Problem(problem.kind, problem.subject, problem.detail, what)


def _check_blob(
    data_dir: Path, path: Path, where: str, report: CheckReport, repair: bool
) -> Problem | None:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None  # collected or set aside while we looked
    with handle:
        identity = _identity(os.fstat(handle.fileno()))
        digest = _hash_open_file(handle)
    report.blobs += 1
    report.blob_bytes += digest.size
    if digest.hexdigest() == path.name:
        return None
    problem = Problem(CORRUPT_BLOB, where, f"{digest.size} bytes that hash to {digest.hexdigest()}")
    if repair and (aside := _quarantine(data_dir, path, identity)):
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


# --- backup ----------------------------------------------------------------------------------


def backup(config: ServerConfig, destination: Path) -> BackupReport:
    """Write a consistent copy of the relay's database and blobs to ``destination``.

    ``destination`` must not exist (or be an empty directory); the result is a data dir a relay
    can serve (``agent-relay-server serve --data-dir``), with a ``manifest.json``. Safe while the
    relay runs: the database is snapshotted first, then every blob stored at that point is copied
    and verified, so each blob the snapshot references is in the copy (unless it was already
    missing or damaged in the store: then the report lists it and ``ok`` is false).

    Raises:
        InvalidInput: ``destination`` exists and is not an empty directory, or there is no
            database to back up.
    """
    return _copy_data(config, destination, skip_ids=0, restoring=False)


def restore(
    source: Path, config: ServerConfig, *, skip_ids: int = RESTORE_SKIP_IDS
) -> BackupReport:
    """Copy the backup at ``source`` into the (new or empty) data dir of ``config``, verified.

    The next message id is moved ``skip_ids`` past the backup's last one: the relay that was lost
    may have handed out ids after the snapshot, and a client whose cursor is past them must not
    skip new messages that would reuse them.

    Raises:
        InvalidInput: ``source`` has no manifest (not a backup), the data dir is not empty, or
            the config keeps the database outside the data dir.
    """
    if not (source / MANIFEST_FILE).is_file():
        raise InvalidInput(f"{source} has no {MANIFEST_FILE}: not a backup")
    if config.database_url:
        raise InvalidInput("restore writes <data_dir>/relay.sqlite3: unset database_url first")
    if skip_ids < 0:
        raise InvalidInput(f"skip_ids must be 0 or more, got {skip_ids}")
    return _copy_data(
        ServerConfig(data_dir=source), config.data_dir, skip_ids=skip_ids, restoring=True
    )


def _copy_data(
    config: ServerConfig, destination: Path, *, skip_ids: int, restoring: bool
) -> BackupReport:
    destination = destination.absolute()
    if destination.exists() and not (destination.is_dir() and not any(destination.iterdir())):
        raise InvalidInput(f"{destination} exists and is not empty: copy into a new directory")
    destination.parent.mkdir(parents=True, exist_ok=True)
    work = destination.parent / f".{destination.name}.partial-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        report = _write_backup(config, work, destination, skip_ids, restoring)
        if destination.exists():
            destination.rmdir()
        os.rename(work, destination)
        _fsync_dir(destination.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return report


def _write_backup(
    config: ServerConfig, work: Path, destination: Path, skip_ids: int, restoring: bool
) -> BackupReport:
    database = work / DATABASE_FILE
    source = _connect(config.database_path)
    try:
        copy = sqlite3.connect(database, isolation_level=None)
        try:
            # One step (pages=-1): the whole copy is read in one transaction, so it is one
            # consistent moment of the database even while the relay commits.
            source.backup(copy)
            snapshot = _read_snapshot(copy)
            integrity = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            if skip_ids:
                _skip_message_ids(copy, snapshot.last_message_id + skip_ids)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            copy.close()
    finally:
        source.close()
    _fsync_file(database)
    problems = [Problem(DATABASE, "integrity_check", line) for line in integrity if line != "ok"]

    # After the snapshot, never before: see the module docstring.
    (work / BLOBS_DIR).mkdir()
    blobs_copied, blob_bytes = 0, 0
    for entry in _scan_store(config.blobs_dir):
        if entry.kind != "blob":
            continue
        copied = _copy_blob(entry.path, work / BLOBS_DIR / entry.path.parent.name)
        if copied is None:
            continue
        if copied < 0:
            problems.append(
                Problem(CORRUPT_BLOB, entry.path.name, "failed verification; not copied")
            )
            continue
        blobs_copied += 1
        blob_bytes += copied
    missing = [
        sha256
        for sha256 in sorted(snapshot.referenced)
        if not (work / BLOBS_DIR / sha256[:2] / sha256).is_file()
    ]
    problems += [
        Problem(MISSING_BLOB, sha256, "referenced by the snapshot but not in the store")
        for sha256 in missing
        if not any(p.subject == sha256 for p in problems)
    ]
    for fanout in (work / BLOBS_DIR).iterdir():
        _fsync_dir(fanout)
    config_file = config.data_dir / CONFIG_FILE
    if config_file.is_file():
        shutil.copy2(config_file, work / CONFIG_FILE)
        if restoring:  # the restored relay must not serve the data dir the backup came from
            _point_config_at(work / CONFIG_FILE, destination)

    manifest: dict[str, Any] = {
        "format": BACKUP_FORMAT,
        "relay_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "source_data_dir": str(config.data_dir),
        "database": {
            "file": DATABASE_FILE,
            "bytes": database.stat().st_size,
            "migrations": snapshot.applied,
            "messages": snapshot.messages,
            "last_message_id": snapshot.last_message_id,
            "attached_blobs": len(snapshot.referenced),
        },
        "blobs": {"dir": BLOBS_DIR, "count": blobs_copied, "bytes": blob_bytes},
        "config_copied": config_file.is_file(),
        "message_ids_skipped": skip_ids,
        "problems": [asdict(problem) for problem in problems],
    }
    _write_atomically(work / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    _fsync_dir(work)
    return BackupReport(destination, manifest, problems)


def _point_config_at(config_file: Path, data_dir: Path) -> None:
    """Make a config file's ``data_dir = ...`` line name ``data_dir`` (TOML: a JSON string)."""
    text = config_file.read_text(encoding="utf-8")
    line = f"data_dir = {json.dumps(str(data_dir))}"
    moved = re.sub(r"(?m)^data_dir\s*=.*$", lambda _: line, text)
    if moved != text:
        config_file.write_text(moved, encoding="utf-8")


def _skip_message_ids(connection: sqlite3.Connection, next_after: int) -> None:
    """Make the next message id ``next_after + 1`` (AUTOINCREMENT never goes back)."""
    with connection:
        connection.execute("BEGIN")
        updated = connection.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'message'", (next_after,)
        ).rowcount
        if not updated:
            connection.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('message', ?)", (next_after,)
            )


def _copy_blob(source: Path, fanout: Path) -> int | None:
    """Copy one blob, verifying it on the way: its size; -1 if it failed; None if it vanished."""
    try:
        reader = source.open("rb")
    except FileNotFoundError:
        return None  # collected since the scan (so not referenced)
    fanout.mkdir(parents=True, exist_ok=True)
    target = fanout / source.name
    temp = fanout / f".{source.name}.copy"
    with reader, temp.open("wb") as writer:
        digest = StreamingHash()
        while chunk := reader.read(CHUNK_BYTES):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
        mtime = os.fstat(reader.fileno()).st_mtime
    if digest.hexdigest() != source.name:
        temp.unlink()
        return -1
    os.utime(temp, (mtime, mtime))  # the grace period before gc carries over
    os.replace(temp, target)
    return digest.size


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with temp.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory
    finally:
        os.close(fd)

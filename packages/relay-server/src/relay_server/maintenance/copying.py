"""``backup`` and ``restore``: a verified copy of a relay's data dir, in either direction.

A backup is a directory laid out like a data dir: a consistent snapshot of the database (the
backend copies it as one moment, see :func:`~relay_server.maintenance.backend.maintenance_for`),
then a verified copy of every blob, then ``manifest.json``. It is built under a hidden temporary
name next to the target and renamed into place at the end, so a directory with the target's
name is always complete. ``restore`` is the same copy the other way, into a new data dir, with
the next message id moved well past the backup's last one.

The database is copied *before* the blobs are scanned. An attachment row is only ever written
for a blob already stored, and a referenced blob is never collected, so every blob referenced by
the snapshot still exists when the copy reaches it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from relay_core import InvalidInput
from relay_core.blobs import CHUNK_BYTES, StreamingHash
from relay_server import __version__
from relay_server.config import BLOBS_DIR, DATABASE_FILE, ServerConfig
from relay_server.maintenance.backend import maintenance_for
from relay_server.maintenance.report import (
    CORRUPT_BLOB,
    DATABASE,
    MISSING_BLOB,
    BackupReport,
    Problem,
)
from relay_server.storage.blobs.files import fsync_dir, scan_store
from relay_server.storage.sqlite.maintenance import Snapshot

MANIFEST_FILE: Final = "manifest.json"
BACKUP_FORMAT: Final = 1
CONFIG_FILE: Final = "config.toml"
RESTORE_SKIP_IDS: Final = 1_000_000
"""How far ``restore`` moves the next message id past the backup's last one, by default."""


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
        fsync_dir(destination.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return report


def _write_backup(
    config: ServerConfig, work: Path, destination: Path, skip_ids: int, restoring: bool
) -> BackupReport:
    database = work / DATABASE_FILE
    snapshot, integrity = maintenance_for(config).backup_to(database, skip_ids)
    problems = [Problem(DATABASE, "integrity_check", line) for line in integrity]
    # After the snapshot, never before: see the module docstring.
    blobs_copied, blob_bytes = _copy_blobs(config.blobs_dir, work / BLOBS_DIR, problems)
    problems += [
        Problem(MISSING_BLOB, sha256, "referenced by the snapshot but not in the store")
        for sha256 in sorted(snapshot.referenced)
        if not (work / BLOBS_DIR / sha256[:2] / sha256).is_file()
        and not any(p.subject == sha256 for p in problems)
    ]
    for fanout in (work / BLOBS_DIR).iterdir():
        fsync_dir(fanout)
    config_copied = _copy_config(config.data_dir, work, destination if restoring else None)
    manifest: dict[str, Any] = {
        "format": BACKUP_FORMAT,
        "relay_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "source_data_dir": str(config.data_dir),
        "database": _database_manifest(database, snapshot),
        "blobs": {"dir": BLOBS_DIR, "count": blobs_copied, "bytes": blob_bytes},
        "config_copied": config_copied,
        "message_ids_skipped": skip_ids,
        "problems": [asdict(problem) for problem in problems],
    }
    _write_atomically(work / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    fsync_dir(work)
    return BackupReport(destination, manifest, problems)


def _database_manifest(database: Path, snapshot: Snapshot) -> dict[str, Any]:
    return {
        "file": DATABASE_FILE,
        "bytes": database.stat().st_size,
        "migrations": snapshot.applied,
        "messages": snapshot.messages,
        "last_message_id": snapshot.last_message_id,
        "attached_blobs": len(snapshot.referenced),
    }


def _copy_blobs(root: Path, into: Path, problems: list[Problem]) -> tuple[int, int]:
    """Copy every blob below ``root`` into ``into``, verified; the count and bytes copied.

    A blob that fails verification is not copied and adds a problem to ``problems``.
    """
    into.mkdir()
    blobs_copied, blob_bytes = 0, 0
    for entry in scan_store(root):
        if entry.kind != "blob":
            continue
        copied = _copy_blob(entry.path, into / entry.path.parent.name)
        if copied is None:
            continue
        if copied < 0:
            problems.append(
                Problem(CORRUPT_BLOB, entry.path.name, "failed verification; not copied")
            )
            continue
        blobs_copied += 1
        blob_bytes += copied
    return blobs_copied, blob_bytes


def _copy_config(data_dir: Path, work: Path, restored_to: Path | None) -> bool:
    """Copy the data dir's config file, if any, pointing it at ``restored_to`` when restoring."""
    config_file = data_dir / CONFIG_FILE
    if not config_file.is_file():
        return False
    shutil.copy2(config_file, work / CONFIG_FILE)
    if restored_to is not None:  # the restored relay must not serve the data dir of the backup
        _point_config_at(work / CONFIG_FILE, restored_to)
    return True


def _point_config_at(config_file: Path, data_dir: Path) -> None:
    """Make a config file's ``data_dir = ...`` line name ``data_dir`` (TOML: a JSON string)."""
    text = config_file.read_text(encoding="utf-8")
    line = f"data_dir = {json.dumps(str(data_dir))}"
    moved = re.sub(r"(?m)^data_dir\s*=.*$", lambda _: line, text)
    if moved != text:
        config_file.write_text(moved, encoding="utf-8")


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

"""The relay's data is private to its user: directories 0700, files 0600, under a normal umask.

Checked on everything the relay and its commands create, while they create it (the WAL and
shared-memory files of a running relay, a file still being uploaded) as well as at the end
(database, blobs, backups, the config file), and on data an older version left readable.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.relay_process  # the umask and file modes of the `serve` process

NORMAL_UMASK = 0o022
APPEAR_TIMEOUT_S = 20.0


@pytest.fixture
def normal_umask() -> Iterator[None]:
    """Run the test (and the relays it starts) under umask 022, as a login shell would."""
    previous = os.umask(NORMAL_UMASK)
    yield
    os.umask(previous)


def open_to_others(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode & 0o077 or (mode | wanted) != wanted:
            found.append(f"{path.relative_to(root.parent)}: {oct(mode)}")
    return found


def wait_for(pattern: str, root: Path) -> Path:
    deadline = time.monotonic() + APPEAR_TIMEOUT_S
    while not (found := list(root.rglob(pattern))):
        assert time.monotonic() < deadline, f"no {pattern} under {root}"
        time.sleep(0.02)
    return found[0]


def test_everything_the_relay_writes_is_private_while_and_after_writing(
    normal_umask, start_relay, tmp_path
):
    relay = start_relay()
    headers = relay.headers("alpha")
    requests.post(relay.url + "/api/v1/sessions", json={"name": "modes"}, headers=headers)
    sent = requests.post(
        relay.url + "/api/v1/sessions/modes/messages", json={"text": "hi"}, headers=headers
    )
    assert sent.status_code == 201
    # While it runs: the database with its WAL and shared-memory files.
    assert (relay.data_dir / "relay.sqlite3-wal").exists()
    assert open_to_others(relay.data_dir) == []

    # A file in the middle of its upload: the temp file is private from its first byte.
    data = os.urandom(64 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    with socket.create_connection(("127.0.0.1", relay.port), timeout=30) as upload:
        head = [
            f"PUT /blobs/{digest} HTTP/1.1",
            f"Host: 127.0.0.1:{relay.port}",
            *(f"{name}: {value}" for name, value in headers.items()),
            f"Content-Length: {len(data)}",
            "Content-Type: application/octet-stream",
        ]
        upload.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data[:1024])
        wait_for("*.part", relay.data_dir / "blobs")
        assert open_to_others(relay.data_dir) == []
        upload.sendall(data[1024:])
        assert b" 201 " in upload.recv(4096).split(b"\r\n")[0] + b" "

    backup = tmp_path / "backup"
    relay.admin("backup", str(backup))
    relay.stop()
    assert list((relay.data_dir / "blobs").rglob(digest))
    assert open_to_others(relay.data_dir) == []
    assert open_to_others(backup) == []


def test_init_writes_a_private_data_dir_and_config(normal_umask, tmp_path):
    data_dir = tmp_path / "new"
    subprocess.run(
        [sys.executable, "-m", "relay_server", "init", "--data-dir", str(data_dir)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert open_to_others(data_dir) == []


def test_data_an_older_version_left_readable_is_made_private(normal_umask, start_relay):
    relay = start_relay()
    relay.stop()
    for path in [relay.data_dir, *relay.data_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    relay.start()
    relay.stop()
    database = relay.data_dir / "relay.sqlite3"
    assert stat.S_IMODE(relay.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((relay.data_dir / "blobs").stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600

"""``agent-relay-server check [--repair]`` and ``backup PATH``, on real SQLite files and blobs.

Most tests build a data dir with the real service in this process and run the command through
click; the ones about working while the relay serves start a real relay and run the command as
its own process.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import requests
from click.testing import CliRunner

from relay_core import CreateSessionRequest, SendMessageRequest
from relay_server import maintenance
from relay_server.app import build_service
from relay_server.cli import main
from relay_server.config import ServerConfig, load_config
from relay_server.maintenance import copying
from relay_server.storage.migrations import MIGRATIONS

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Data:
    """A data dir made by the real service: session ``work``, one attached and one loose file."""

    def __init__(self, root):
        self.dir = root
        self.config = ServerConfig(data_dir=root)
        self.service = build_service(self.config)
        self.attached, self.loose = os.urandom(5000), os.urandom(3000)
        self.service.create_session("alpha", CreateSessionRequest.parse({"name": "work"}))
        for data in (self.attached, self.loose):
            self.service.put_blob("alpha", data)
        ref = {"sha256": sha(self.attached), "filename": "a.bin"}
        request = SendMessageRequest.parse({"text": "see file", "attachments": [ref]})
        self.message_id = self.service.post_message("alpha", "work", request).id
        self.service.post_message("alpha", "work", SendMessageRequest.parse({"text": "plain"}))

    def blob(self, data: bytes):
        digest = sha(data)
        return self.dir / "blobs" / digest[:2] / digest

    def damage(self, data: bytes) -> bytes:
        """Flip a byte of a stored blob in place (same size, other bytes); the new bytes."""
        path = self.blob(data)
        damaged = bytearray(path.read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        path.write_bytes(bytes(damaged))
        return bytes(damaged)

    def sql(self, *statements: str) -> None:
        with sqlite3.connect(self.dir / "relay.sqlite3") as connection:
            for statement in statements:
                connection.execute(statement)


@pytest.fixture
def data(tmp_path):
    return Data(tmp_path / "data")


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def check(data, *args):
    return run("check", "--data-dir", data.dir, *args)


def problems(result):
    """The problem lines of a check: every line but the summary."""
    return result.output.splitlines()[:-1]


# --- check -----------------------------------------------------------------------------------


def test_check_of_a_healthy_data_dir_prints_only_a_summary_and_exits_0(data):
    result = check(data)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "checked the database (2 message(s), 1 attachment(s)) and 2 file(s), 7.8 KiB: no problems"
    ]


def test_check_reports_a_damaged_file_on_one_line_and_changes_nothing(data):
    damaged = data.damage(data.loose)
    result = check(data)
    assert result.exit_code == 1
    assert problems(result) == [
        f"corrupt-blob: blobs/{sha(data.loose)[:2]}/{sha(data.loose)}: "
        f"3000 bytes that hash to {sha(damaged)}"
    ]
    assert "1 problem(s)" in result.output
    assert data.blob(data.loose).read_bytes() == damaged
    assert not (data.dir / "quarantine").exists()


def test_repair_moves_a_damaged_file_into_quarantine_and_never_deletes_it(data):
    damaged = data.damage(data.loose)
    result = check(data, "--repair")
    assert result.exit_code == 0, result.output
    [line] = problems(result)
    assert line.startswith(f"corrupt-blob: blobs/{sha(data.loose)[:2]}/{sha(data.loose)}: ")
    assert " -> moved to quarantine/" in line
    assert not data.blob(data.loose).exists()
    [kept] = (data.dir / "quarantine").iterdir()
    assert kept.read_bytes() == damaged
    assert check(data).exit_code == 0


def test_a_damaged_attached_file_is_still_a_problem_after_repair_because_it_is_missing(data):
    data.damage(data.attached)
    result = check(data, "--repair")
    assert result.exit_code == 1
    kinds = [line.split(":")[0] for line in problems(result)]
    assert kinds == ["corrupt-blob", "missing-blob"]
    assert problems(result)[1] == (
        f"missing-blob: {sha(data.attached)}: attached 1 time(s) "
        f"(first in message {data.message_id}) but not in the store"
    )


def test_check_reports_an_attachment_whose_file_is_gone(data):
    data.blob(data.attached).unlink()
    result = check(data)
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in problems(result)] == ["missing-blob"]
    assert check(data, "--repair").exit_code == 1  # nothing can bring the bytes back


def test_check_reports_broken_foreign_keys_and_a_schema_that_does_not_match(data):
    data.sql(
        "PRAGMA foreign_keys = OFF",
        "INSERT INTO participant (session_id, client_id, joined_ms) VALUES (999, 'alpha', 0)",
        "DELETE FROM applied_migration WHERE name = 'm002_uploads'",
        "INSERT INTO applied_migration (name, applied_ms) VALUES ('m999_future', 0)",
    )
    result = check(data)
    assert result.exit_code == 1
    assert problems(result) == [
        "foreign-key: participant row 2: points at a missing session row",
        "migration: m002_uploads: not applied (the relay applies it when it starts)",
        "migration: m999_future: applied, but unknown to relay 0.1.0 (newer?)",
    ]


def test_check_reports_a_database_file_that_is_not_a_database(data):
    (data.dir / "relay.sqlite3").write_bytes(b"not a database at all" * 100)
    for leftover in ("relay.sqlite3-wal", "relay.sqlite3-shm"):
        (data.dir / leftover).unlink(missing_ok=True)
    result = check(data)
    assert result.exit_code == 1
    assert problems(result) == ["database: relay.sqlite3: file is not a database"]


def test_check_without_a_database_says_so_in_one_line(tmp_path):
    result = run("check", "--data-dir", tmp_path)
    assert result.exit_code == 2
    assert result.output.startswith("Error: invalid: no relay database at ")
    assert "Traceback" not in result.output


def test_repair_removes_a_crashed_uploads_temp_file_but_never_one_an_upload_is_writing(data):
    store = data.service.blobs
    writing = os.urandom(2000)
    upload = store.begin(sha(writing), len(writing))
    upload.write(writing[:1000])  # in flight: its temp file is locked
    crashed = data.blob(data.loose).with_name(f".{sha(data.loose)}.0123abcd.part")
    crashed.write_bytes(b"half of something")

    found = check(data)
    assert found.exit_code == 1
    assert problems(found) == [
        f"temp-file: {crashed.relative_to(data.dir)}: "
        "17 bytes left by an upload that never finished"
    ]
    assert "1 upload(s) in flight" in found.output
    repaired = check(data, "--repair")
    assert repaired.exit_code == 0
    assert problems(repaired)[0].endswith(" -> removed")
    assert not crashed.exists()
    assert upload.temp.exists()
    upload.write(writing[1000:])
    assert upload.commit() is True
    assert store.read_bytes(sha(writing)) == writing


def test_copies_the_relay_set_aside_are_reported_and_repair_quarantines_them(data):
    aside = data.blob(data.loose).with_name(f".{sha(data.loose)}.99ff.corrupt")
    aside.write_bytes(b"bad bytes")
    result = check(data, "--repair")
    assert result.exit_code == 0
    [line] = problems(result)
    assert line.startswith(f"corrupt-copy: {aside.relative_to(data.dir)}: ")
    assert not aside.exists()
    assert [p.read_bytes() for p in (data.dir / "quarantine").iterdir()] == [b"bad bytes"]


def test_files_the_store_does_not_know_are_reported_and_left_alone(data):
    stray = data.dir / "blobs" / "README"
    stray.write_text("hello")
    result = check(data, "--repair")
    assert result.exit_code == 1
    assert problems(result) == [
        "unexpected-file: blobs/README: not a blob, temp file or fan-out directory"
    ]
    assert stray.exists()


# --- backup ----------------------------------------------------------------------------------


def backup(data, target):
    return run("backup", "--data-dir", data.dir, target)


def test_a_backup_is_a_data_dir_with_a_manifest_that_check_passes(data, tmp_path):
    target = tmp_path / "copy"
    result = backup(data, target)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("backed up 2 message(s) (up to id 2) and 2 file(s)")
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["format"] == 1
    assert manifest["database"]["messages"] == 2
    assert manifest["database"]["last_message_id"] == 2
    assert manifest["database"]["migrations"] == [m.__name__ for m in MIGRATIONS]
    assert manifest["blobs"] == {"dir": "blobs", "count": 2, "bytes": 8000}
    assert manifest["problems"] == []
    for blob in (data.attached, data.loose):
        copied = target / "blobs" / sha(blob)[:2] / sha(blob)
        assert copied.read_bytes() == blob
        assert copied.stat().st_mtime == data.blob(blob).stat().st_mtime
    assert run("check", "--data-dir", target).exit_code == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_backup_refuses_a_target_that_is_not_empty(data, tmp_path):
    target = tmp_path / "used"
    target.mkdir()
    (target / "something").write_text("keep me")
    result = backup(data, target)
    assert result.exit_code == 2
    assert result.output.startswith("Error: invalid: ")
    assert (target / "something").read_text() == "keep me"


def test_a_backup_leaves_out_a_damaged_file_and_says_so(data, tmp_path):
    data.damage(data.attached)
    target = tmp_path / "copy"
    result = backup(data, target)
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f"corrupt-blob: {sha(data.attached)}: failed verification; not copied",
        "backed up 2 message(s) (up to id 2) and 1 file(s), 2.9 KiB, to " + str(target),
    ]
    assert not (target / "blobs" / sha(data.attached)[:2] / sha(data.attached)).exists()
    manifest = json.loads((target / "manifest.json").read_text())
    assert [p["kind"] for p in manifest["problems"]] == ["corrupt-blob"]


def test_a_backup_that_fails_halfway_leaves_nothing_under_the_target_name(
    data, tmp_path, monkeypatch
):
    def broken_copy(source, fanout):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(copying, "_copy_blob", broken_copy)
    target = tmp_path / "copy"
    with pytest.raises(OSError, match="No space left"):
        maintenance.backup(data.config, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def restore(backup_dir, data_dir, *args):
    return run("restore", backup_dir, "--data-dir", data_dir, *args)


def test_a_restored_backup_serves_the_same_data_and_starts_new_ids_further_on(data, tmp_path):
    assert backup(data, tmp_path / "copy").exit_code == 0
    result = restore(tmp_path / "copy", tmp_path / "new", "--skip-ids", "100")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "restored 2 message(s) (up to id 2; new ones start after 102) and 2 file(s), 7.8 KiB, "
        f"into {tmp_path / 'new'}\n"
    )
    assert run("check", "--data-dir", tmp_path / "new").exit_code == 0
    service = build_service(ServerConfig(data_dir=tmp_path / "new"))
    page = service.read_messages("alpha", "work", after_id=0)
    assert [m.text for m in page.messages] == ["see file", "plain"]
    assert service.read_blob("alpha", sha(data.attached)) == data.attached
    sent = service.post_message("alpha", "work", SendMessageRequest.parse({"text": "next"}))
    assert sent.id == 103


def test_a_restored_config_names_the_new_data_dir_and_the_backup_keeps_the_old(data, tmp_path):
    assert run("init", "--data-dir", data.dir).exit_code == 0
    assert backup(data, tmp_path / "copy").exit_code == 0
    assert restore(tmp_path / "copy", tmp_path / "new").exit_code == 0
    restored = load_config(config_file=tmp_path / "new" / "config.toml", environ={})
    assert restored.data_dir == tmp_path / "new"
    assert (
        restored.token_sha256
        == load_config(config_file=data.dir / "config.toml", environ={}).token_sha256
    )
    kept = load_config(config_file=tmp_path / "copy" / "config.toml", environ={})
    assert kept.data_dir == data.dir


def test_restore_refuses_what_is_not_a_backup_and_a_data_dir_in_use(data, tmp_path):
    not_a_backup = restore(data.dir, tmp_path / "new")
    assert not_a_backup.exit_code == 2
    assert "not a backup" in not_a_backup.output
    assert backup(data, tmp_path / "copy").exit_code == 0
    in_use = restore(tmp_path / "copy", data.dir)
    assert in_use.exit_code == 2
    assert in_use.output.startswith("Error: invalid: ")


# --- while the relay serves ------------------------------------------------------------------


def command(relay, *args):
    return subprocess.run(
        [sys.executable, "-m", "relay_server", *args, "--data-dir", str(relay.data_dir)],
        env={**os.environ, **relay.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def api(relay, client_id, method, path, **kwargs):
    return requests.request(
        method, relay.url + path, headers=relay.headers(client_id), timeout=30, **kwargs
    )


def test_check_and_repair_work_while_the_relay_serves(start_relay):
    relay = start_relay()
    good, bad = os.urandom(MiB), os.urandom(MiB)
    for blob in (good, bad):
        assert api(relay, "alpha", "PUT", f"/blobs/{sha(blob)}", data=blob).status_code == 201
    path = relay.data_dir / "blobs" / sha(bad)[:2] / sha(bad)
    path.write_bytes(b"\0" + path.read_bytes()[1:])

    found = command(relay, "check")
    assert found.returncode == 1
    assert found.stdout.startswith(f"corrupt-blob: blobs/{sha(bad)[:2]}/{sha(bad)}: ")
    assert command(relay, "check", "--repair").returncode == 0
    assert api(relay, "alpha", "HEAD", f"/blobs/{sha(bad)}").status_code == 404
    assert api(relay, "alpha", "PUT", f"/blobs/{sha(bad)}", data=bad).status_code == 201
    assert api(relay, "alpha", "GET", f"/blobs/{sha(bad)}").content == bad
    assert api(relay, "alpha", "GET", f"/blobs/{sha(good)}").content == good
    assert command(relay, "check").returncode == 0


def read_all(relay, session, reader):
    found, after = {}, 0
    while True:
        page = api(
            relay,
            reader,
            "GET",
            f"/api/v1/sessions/{session}/messages",
            params={"after": after, "limit": 500},
        ).json()
        found.update({m["id"]: m for m in page["messages"]})
        after = page["next_after_id"]
        if not page["has_more"]:
            return found


def test_a_backup_taken_under_load_restores_every_message_and_file_of_its_moment(
    start_relay, tmp_path
):
    relay = start_relay()
    api(relay, "alpha", "POST", "/api/v1/sessions", json={"name": "live", "participants": ["beta"]})
    acknowledged: list[int] = []
    files: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(client_id: str, seed: int) -> None:
        with requests.Session() as http:
            http.headers.update(relay.headers(client_id))
            for n in range(100_000):
                if stop.is_set():
                    return
                attachments = []
                if n % 4 == 0:  # a fresh file each fourth message, attached at once
                    blob = seed.to_bytes(2) + n.to_bytes(4) + os.urandom(20_000)
                    stored = http.put(f"{relay.url}/blobs/{sha(blob)}", data=blob, timeout=30)
                    assert stored.status_code == 201, stored.text
                    attachments = [{"sha256": sha(blob), "filename": f"{n}.bin"}]
                    with lock:
                        files[sha(blob)] = blob
                answer = http.post(
                    f"{relay.url}/api/v1/sessions/live/messages",
                    json={"text": f"{client_id} {n}", "attachments": attachments},
                    timeout=30,
                )
                assert answer.status_code == 201, answer.text
                with lock:
                    acknowledged.append(answer.json()["id"])

    def sent() -> int:
        with lock:
            return len(acknowledged)

    threads = [
        threading.Thread(target=sender, args=(client, seed))
        for seed, client in enumerate(["alpha", "beta", "alpha", "beta"])
    ]
    for thread in threads:
        thread.start()
    target = tmp_path / "backup"
    try:
        deadline = time.monotonic() + 30
        while sent() < 100 and time.monotonic() < deadline:  # back up mid-load, not before it
            threads[0].join(timeout=0.02)
        during = sent()
        made = command(relay, "backup", str(target))
        after = sent()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert made.returncode == 0, made.stdout + made.stderr
    assert during >= 100
    assert after > during, "the sends went on while the backup ran"

    manifest = json.loads((target / "manifest.json").read_text())
    cut = manifest["database"]["last_message_id"]
    original = read_all(relay, "live", "beta")
    restored = start_relay()
    restored.stop()
    shutil.rmtree(restored.data_dir)
    put_back = command(restored, "restore", str(target))
    assert put_back.returncode == 0, put_back.stdout + put_back.stderr
    restored.start()

    copy = read_all(restored, "live", "beta")
    assert sorted(copy) == sorted(i for i in original if i <= cut)  # the snapshot's moment
    assert len(copy) == manifest["database"]["messages"]
    for message_id, message in copy.items():
        assert message == original[message_id]
        for attachment in message["attachments"]:
            blob = api(restored, "beta", "GET", f"/blobs/{attachment['sha256']}")
            assert blob.status_code == 200
            assert blob.content == files[attachment["sha256"]]
    assert any(m["attachments"] for m in copy.values())
    checked = command(restored, "check")
    assert checked.returncode == 0, checked.stdout
    new = api(restored, "alpha", "POST", "/api/v1/sessions/live/messages", json={"text": "next"})
    assert new.json()["id"] > cut + 1_000_000  # past any id the first relay handed out since

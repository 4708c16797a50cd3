"""Faults against a real relay: SIGKILL mid-load, a disk that fills up, a quota that runs out.

After each fault the relay's data must be consistent: every acknowledged message is there once,
no file is visible under a blob's name unless its bytes hash to that name, nothing partial is
left where the relay would serve it, and ``agent-relay-server check`` agrees.

The full disk is real: the test mounts a small tmpfs over the relay's data directory (CI runs as
root, and there a failed mount fails the test; elsewhere it is skipped, saying why). RLIMIT_FSIZE
was the alternative, but it fails writes with EFBIG after raising SIGXFSZ, which kills the relay
unless it ignores the signal: a different fault from the ENOSPC a full disk gives.
"""

import errno
import hashlib
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.relay_process]  # SIGKILL, a tmpfs it holds open

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def api(relay, client_id, method, path, **kwargs):
    return requests.request(
        method, relay.url + path, headers=relay.headers(client_id), timeout=30, **kwargs
    )


def code_of(answer) -> str:
    return answer.json()["error"]["code"]


def wait_until(condition, timeout_s=15.0):
    """Poll a condition the relay makes true on its own: a bounded wait, never a bare sleep."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def store_files(relay):
    root = relay.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def temp_files(relay):
    return [p for p in store_files(relay) if p.name.endswith(".part")]


def assert_every_visible_blob_verifies(relay):
    """Every file under a blob's name hashes to that name; returns the digests."""
    digests = []
    for path in store_files(relay):
        if not path.name.startswith("."):
            assert sha(path.read_bytes()) == path.name, f"{path} does not match its name"
            digests.append(path.name)
    return digests


def all_messages(relay, session, reader):
    found, after = [], 0
    while True:
        page = api(
            relay,
            reader,
            "GET",
            f"/api/v1/sessions/{session}/messages",
            params={"after": after, "limit": 500},
        ).json()
        found += page["messages"]
        after = page["next_after_id"]
        if not page["has_more"]:
            return found


def run_check(relay, *args):
    return subprocess.run(
        [sys.executable, "-m", "relay_server", "check", "--data-dir", str(relay.data_dir), *args],
        env={**os.environ, **relay.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stalled_put(relay, client_id, data):
    """A PUT that sends half its body and then waits: an upload in flight, for as long as needed."""
    conn = socket.create_connection(("127.0.0.1", relay.port), timeout=30)
    head = [
        f"PUT /blobs/{sha(data)} HTTP/1.1",
        f"Host: 127.0.0.1:{relay.port}",
        f"Content-Length: {len(data)}",
        *(f"{k}: {v}" for k, v in relay.headers(client_id).items()),
    ]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data[: len(data) // 2])
    return conn


class Pieces:
    """A body requests streams in 16 KiB pieces with its Content-Length, as a file is sent."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        return (self.data[i : i + 16384] for i in range(0, len(self.data), 16384))


def create_session(relay, name, creator="alpha", participants=("beta",)):
    answer = api(
        relay,
        creator,
        "POST",
        "/api/v1/sessions",
        json={"name": name, "participants": list(participants)},
    )
    assert answer.status_code == 201, answer.text


# --- SIGKILL ---------------------------------------------------------------------------------


def test_a_kill_mid_sends_and_uploads_loses_no_acknowledged_message_and_shows_no_bad_file(
    start_relay,
):
    relay = start_relay()
    create_session(relay, "faults")
    messages: dict[int, str] = {}
    files: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(client_id: str) -> None:
        with requests.Session() as http:
            http.headers.update(relay.headers(client_id))
            for n in range(100_000):
                if stop.is_set():
                    return
                with lock:
                    attach = list(files)[-1:] if n % 5 == 0 else []
                text = f"{client_id} {n}"
                refs = [{"sha256": digest, "filename": "f"} for digest in attach]
                body = {"text": text, "attachments": refs}
                try:
                    answer = http.post(
                        relay.url + "/api/v1/sessions/faults/messages", json=body, timeout=10
                    )
                except requests.RequestException:
                    return
                if answer.status_code == 201:
                    with lock:
                        messages[answer.json()["id"]] = text

    def uploader(seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as http:
            http.headers.update(relay.headers("alpha"))
            while not stop.is_set():
                data = rng.randbytes(rng.randint(1, 512 * 1024))
                try:
                    url = f"{relay.url}/blobs/{sha(data)}"
                    answer = http.put(url, data=Pieces(data), timeout=10)
                except requests.RequestException:
                    return
                if answer.status_code in (200, 201):
                    with lock:
                        files[sha(data)] = data

    stalled_data = [os.urandom(256 * 1024) for _ in range(3)]
    stalled = [stalled_put(relay, "alpha", data) for data in stalled_data]
    threads = [threading.Thread(target=sender, args=(c,)) for c in ("alpha", "beta") * 2]
    threads += [threading.Thread(target=uploader, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()

    def enough() -> bool:
        with lock:
            return len(messages) >= 300 and len(files) >= 20

    try:
        wait_until(enough, timeout_s=30)
        stalled_temps = {f".{sha(data)}." for data in stalled_data}
        wait_until(
            lambda: stalled_temps <= {p.name[:66] for p in temp_files(relay)}  # ".<sha256>."
        )
    finally:
        relay.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for conn in stalled:
            conn.close()
    assert not any(thread.is_alive() for thread in threads)

    relay.start()
    stored = all_messages(relay, "faults", "beta")
    ids = [m["id"] for m in stored]
    assert len(ids) == len(set(ids)), "a message id appears twice"
    assert ids == sorted(ids)
    texts = {m["id"]: m["text"] for m in stored}
    assert {i: texts.get(i) for i in messages} == messages  # every acknowledged send, unchanged
    for message in stored:
        for attachment in message["attachments"]:
            assert attachment["sha256"] in files
    for digest, data in files.items():
        assert api(relay, "alpha", "GET", f"/blobs/{digest}").content == data
    for data in stalled_data:  # cut off by the kill: never visible
        assert api(relay, "alpha", "HEAD", f"/blobs/{sha(data)}").status_code == 404
    visible = assert_every_visible_blob_verifies(relay)
    assert set(files) <= set(visible)

    found = run_check(relay)
    assert found.returncode == 1, found.stdout
    problems = found.stdout.splitlines()[:-1]
    assert problems
    assert all(line.startswith("temp-file: ") for line in problems), found.stdout
    assert run_check(relay, "--repair").returncode == 0
    assert temp_files(relay) == []
    clean = run_check(relay)
    assert clean.returncode == 0, clean.stdout
    assert "no problems" in clean.stdout


# --- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk_relay(start_relay, require_tool):
    """A relay whose whole data directory is an 8 MiB tmpfs (mounted here; needs root)."""
    relay = start_relay()
    relay.stop()
    seed = relay.data_dir.with_name("seed")
    shutil.move(relay.data_dir, seed)
    relay.data_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(relay.data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    require_tool(
        mounted.returncode == 0,
        f"cannot mount a tmpfs to fill up (needs root): {mounted.stderr.strip()}",
    )
    try:
        shutil.copytree(seed, relay.data_dir, dirs_exist_ok=True)
        relay.start()
        yield relay
    finally:
        relay.stop()  # before unmounting: the relay holds files open there
        subprocess.run(["umount", str(relay.data_dir)], check=True)


def fill_disk(path):
    """Write zeros to ``path`` until the disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        while True:
            os.write(fd, bytes(64 * 1024))
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)


def test_a_disk_filling_up_mid_upload_is_quota_exceeded_and_leaves_nothing_partial(
    small_disk_relay,
):
    relay = small_disk_relay
    kept = os.urandom(2 * MiB)
    assert api(relay, "alpha", "PUT", f"/blobs/{sha(kept)}", data=kept).status_code == 201
    too_big = os.urandom(12 * MiB)  # under every limit, but more than the disk has left

    answer = api(relay, "alpha", "PUT", f"/blobs/{sha(too_big)}", data=too_big)

    assert answer.status_code == 507
    assert code_of(answer) == "quota_exceeded"
    assert "disk is full" in answer.json()["error"]["message"]
    assert temp_files(relay) == []
    assert assert_every_visible_blob_verifies(relay) == [sha(kept)]
    counts = api(relay, "alpha", "GET", "/api/v1/status").json()["counts"]
    assert (counts["blobs"], counts["blob_bytes"]) == (1, len(kept))
    assert api(relay, "alpha", "HEAD", f"/blobs/{sha(too_big)}").status_code == 404
    assert api(relay, "alpha", "GET", f"/blobs/{sha(kept)}").content == kept
    small = os.urandom(1000)  # the room the failed upload held is free again
    assert api(relay, "alpha", "PUT", f"/blobs/{sha(small)}", data=small).status_code == 201
    assert run_check(relay).returncode == 0


def test_a_full_disk_refuses_writes_as_quota_exceeded_keeps_reads_and_loses_nothing(
    small_disk_relay,
):
    relay = small_disk_relay
    create_session(relay, "full")
    before = [
        api(relay, "alpha", "POST", "/api/v1/sessions/full/messages", json={"text": f"m{n}"})
        for n in range(5)
    ]
    acknowledged = {a.json()["id"]: f"m{n}" for n, a in enumerate(before)}
    filler = relay.data_dir / "filler"
    fill_disk(filler)

    codes = []
    for n in range(40):
        text = f"while full {n} " + "x" * 4000
        answer = api(relay, "alpha", "POST", "/api/v1/sessions/full/messages", json={"text": text})
        codes.append(answer.status_code if answer.status_code == 201 else code_of(answer))
        if answer.status_code == 201:
            acknowledged[answer.json()["id"]] = text
    assert set(codes) <= {201, "quota_exceeded"}, codes
    assert "quota_exceeded" in codes
    upload = api(relay, "alpha", "PUT", f"/blobs/{sha(b'late')}", data=b"late")
    assert code_of(upload) == "quota_exceeded"
    # Reads still work, for someone whose last-seen time cannot be written now.
    read = api(relay, "beta", "GET", "/api/v1/sessions/full/messages", params={"after": 0})
    assert read.status_code == 200
    assert api(relay, "beta", "GET", "/api/v1/status").status_code == 200

    filler.unlink()
    after = api(relay, "alpha", "POST", "/api/v1/sessions/full/messages", json={"text": "again"})
    assert after.status_code == 201
    acknowledged[after.json()["id"]] = "again"
    stored = {m["id"]: m["text"] for m in all_messages(relay, "full", "beta")}
    assert stored == acknowledged
    assert temp_files(relay) == []
    checked = run_check(relay)
    assert checked.returncode == 0, checked.stdout


# --- the quota running out -------------------------------------------------------------------


def test_room_held_by_an_upload_in_flight_is_refused_to_others_and_freed_when_it_is_cut_off(
    start_relay,
):
    # An upload in flight holds the bytes it has received (not what it declared, see
    # test_blobs_http's dripping test): 1 MiB here, so 2.5 MiB more do not fit in 3.
    relay = start_relay(blob_quota_bytes=3 * MiB)
    first, second = os.urandom(2 * MiB), os.urandom(5 * MiB // 2)
    in_flight = stalled_put(relay, "alpha", first)
    wait_until(lambda: [p.stat().st_size for p in temp_files(relay)] == [MiB])

    refused = api(relay, "beta", "PUT", f"/blobs/{sha(second)}", data=second)
    assert refused.status_code == 507
    assert code_of(refused) == "quota_exceeded"
    in_flight.close()  # the first upload is cut off: its temp file and promised room go
    wait_until(lambda: temp_files(relay) == [])

    accepted = api(relay, "beta", "PUT", f"/blobs/{sha(second)}", data=second)
    assert accepted.status_code == 201
    assert assert_every_visible_blob_verifies(relay) == [sha(second)]
    again = api(relay, "alpha", "PUT", f"/blobs/{sha(first)}", data=first)
    assert code_of(again) == "quota_exceeded"  # 2.5 MiB stored + 2 MiB does not fit in 3
    counts = api(relay, "alpha", "GET", "/api/v1/status").json()["counts"]
    assert (counts["blobs"], counts["blob_bytes"]) == (1, len(second))
    assert temp_files(relay) == []

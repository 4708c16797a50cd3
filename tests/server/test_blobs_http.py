"""Files over HTTP against a real relay: streamed PUT/HEAD/GET, ranges, limits, access, gc."""

import hashlib
import http.client
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from starlette.requests import ClientDisconnect

from relay_core import MessagePage, Status
from relay_server.http.files import BlobResponse
from relay_server.storage.blobs import BlobStore

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def api(relay, client_id, method, path, **kwargs):
    headers = {**relay.headers(client_id), **kwargs.pop("headers", {})}
    return requests.request(method, relay.url + path, headers=headers, timeout=30, **kwargs)


def put(relay, client_id, data, digest=None):
    return api(relay, client_id, "PUT", f"/blobs/{digest or sha(data)}", data=data)


def code_of(answer):
    return answer.json()["error"]["code"]


def store_files(relay):
    """Every file in the relay's blob store, temp files included, relative to it."""
    root = relay.data_dir / "blobs"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def temp_files(relay):
    """Uploads in progress (or left behind): hidden ``.part`` files."""
    return {name for name in store_files(relay) if name.endswith(".part")}


def wait_until(condition, timeout_s=10.0):
    """Poll a condition the relay makes true on its own (a bounded wait, never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def raw_put(relay, client_id, digest, length, body=b""):
    """Send a PUT's headers (and ``body``, maybe less than ``length``) over a raw socket."""
    conn = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    head = [
        f"PUT /blobs/{digest} HTTP/1.1",
        f"Host: 127.0.0.1:{relay.port}",
        f"Content-Length: {length}",
        *(f"{k}: {v}" for k, v in relay.headers(client_id).items()),
    ]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return conn


def answer_of(conn):
    response = http.client.HTTPResponse(conn)
    response.begin()
    return response.status, response.read()


def create_session(relay, name, creator, participants):
    answer = api(
        relay,
        creator,
        "POST",
        "/api/v1/sessions",
        json={"name": name, "participants": participants},
    )
    assert answer.status_code == 201, answer.text


def send(relay, sender, session, text, attachments, to=()):
    return api(
        relay,
        sender,
        "POST",
        f"/api/v1/sessions/{session}/messages",
        json={"text": text, "attachments": attachments, "to": list(to)},
    )


# --- upload and download ---------------------------------------------------------------------


def test_a_file_round_trips_byte_identical_with_length_and_etag(relay):
    data = os.urandom(4 * MiB + 3)
    stored = put(relay, "alpha", data)
    assert stored.status_code == 201, stored.text
    assert stored.json() == {"sha256": sha(data), "size": len(data), "created": True}
    fetched = api(relay, "alpha", "GET", f"/blobs/{sha(data)}")
    assert fetched.status_code == 200
    assert fetched.headers["content-length"] == str(len(data))
    assert fetched.headers["etag"] == f'"{sha(data)}"'
    assert fetched.headers["accept-ranges"] == "bytes"
    assert fetched.content == data


def test_uploading_the_same_bytes_again_answers_200_and_stores_nothing_new(relay):
    data = os.urandom(1000)
    assert put(relay, "alpha", data).status_code == 201
    before = store_files(relay)
    again = put(relay, "alpha", data)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert store_files(relay) == before


def test_head_tells_size_and_etag_without_a_body(relay):
    data = os.urandom(5000)
    put(relay, "alpha", data)
    head = api(relay, "alpha", "HEAD", f"/blobs/{sha(data)}")
    assert head.status_code == 200
    assert head.headers["content-length"] == "5000"
    assert head.headers["etag"] == f'"{sha(data)}"'
    assert head.content == b""
    assert api(relay, "alpha", "HEAD", f"/blobs/{sha(b'never sent')}").status_code == 404


def test_an_interrupted_download_resumes_with_range_and_the_whole_file_verifies(relay):
    data = os.urandom(3 * MiB + 11)
    put(relay, "alpha", data)
    with api(relay, "alpha", "GET", f"/blobs/{sha(data)}", stream=True) as first:
        got = first.raw.read(MiB + 5)
    assert len(got) == MiB + 5
    rest = api(
        relay, "alpha", "GET", f"/blobs/{sha(data)}", headers={"Range": f"bytes={len(got)}-"}
    )
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {len(got)}-{len(data) - 1}/{len(data)}"
    assert rest.headers["content-length"] == str(len(data) - len(got))
    assert sha(got + rest.content) == sha(data)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=10-19", 10, 19), ("bytes=-5", 995, 999), ("bytes=990-5000", 990, 999)],
)
def test_a_range_returns_exactly_the_bytes_asked_for(relay, header, first, last):
    data = os.urandom(1000)
    put(relay, "alpha", data)
    part = api(relay, "alpha", "GET", f"/blobs/{sha(data)}", headers={"Range": header})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes {first}-{last}/1000"
    assert part.content == data[first : last + 1]


def test_a_range_past_the_end_is_416_with_the_size(relay):
    data = os.urandom(100)
    put(relay, "alpha", data)
    past = api(relay, "alpha", "GET", f"/blobs/{sha(data)}", headers={"Range": "bytes=100-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == "bytes */100"
    assert code_of(past) == "invalid"


def test_a_range_for_other_bytes_than_ours_sends_the_whole_file(relay):
    data = os.urandom(100)
    put(relay, "alpha", data)
    headers = {"Range": "bytes=50-", "If-Range": '"' + "0" * 64 + '"'}
    whole = api(relay, "alpha", "GET", f"/blobs/{sha(data)}", headers=headers)
    assert whole.status_code == 200
    assert whole.content == data


def bytes_read_by(process) -> int:
    """What ``process`` has read through system calls so far (Linux ``/proc``)."""
    with open(f"/proc/{process.pid}/io") as counters:
        return next(int(line.split()[1]) for line in counters if line.startswith("rchar:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux /proc/<pid>/io")
@pytest.mark.relay_process  # reads the relay process's own I/O counters
def test_parallel_one_byte_ranges_cost_the_relay_what_they_serve(start_relay):
    relay = start_relay()
    # One byte used to cost a read and a hash of the whole file: 48 of these in parallel on a
    # 1 GiB file stalled every other client for 20 s. Here 48 cost far less than one file read.
    data = bytes(16 * MiB)
    assert put(relay, "alpha", data).status_code in (200, 201)
    url, headers = (
        f"{relay.url}/blobs/{sha(data)}",
        {**relay.headers("alpha"), "Range": "bytes=0-0"},
    )

    def one_byte(_: int) -> requests.Response:
        return requests.get(url, headers=headers, timeout=60)

    before = bytes_read_by(relay.process)
    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = list(pool.map(one_byte, range(48)))
    cost = bytes_read_by(relay.process) - before
    assert [(a.status_code, a.content) for a in answers] == [(206, b"\0")] * 48
    assert cost < len(data) // 2, f"48 one-byte ranges read {cost} bytes"


def test_a_file_damaged_on_disk_is_never_served_whole_and_a_new_upload_repairs_it(relay):
    data = os.urandom(3 * MiB)
    put(relay, "alpha", data)
    path = relay.data_dir / "blobs" / sha(data)[:2] / sha(data)
    damaged = bytearray(data)
    damaged[MiB] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api(relay, "alpha", "GET", f"/blobs/{sha(data)}")
    assert api(relay, "alpha", "HEAD", f"/blobs/{sha(data)}").status_code == 404
    assert put(relay, "alpha", data).status_code == 201
    assert api(relay, "alpha", "GET", f"/blobs/{sha(data)}").content == data


# --- failures leave nothing behind -----------------------------------------------------------


def test_a_digest_mismatch_is_invalid_and_leaves_nothing_in_the_store(relay):
    data = os.urandom(2 * MiB)
    claimed = sha(b"something else entirely")
    answer = put(relay, "alpha", data, digest=claimed)
    assert answer.status_code == 400
    assert code_of(answer) == "invalid"
    assert answer.json()["error"]["message"].startswith("digest mismatch")
    assert not any(claimed in name for name in store_files(relay))
    assert temp_files(relay) == set()


@pytest.mark.parametrize("digest", ["A" * 64, "g" * 64, "0" * 63, "0" * 65, "abc"])
def test_a_non_hex_digest_is_invalid_and_stores_nothing(relay, digest):
    before = store_files(relay)
    answer = put(relay, "alpha", b"data", digest=digest)
    assert answer.status_code == 400
    assert code_of(answer) == "invalid"
    assert store_files(relay) == before


def everything_a_traversal_could_reach(relay) -> set:
    """Every path under the relay's temp dir, and the entries of each directory above it up to
    the file system's root (where ``../`` steps out of the store would land)."""
    paths = set(relay.data_dir.parent.rglob("*"))
    for ancestor in relay.data_dir.parent.parents:
        paths |= set(ancestor.iterdir()) if os.access(ancestor, os.R_OK) else set()
    return paths


@pytest.mark.parametrize("path", ["..%2F..%2Fescape", "..%2f" + "0" * 62, "%2e%2e"])
def test_a_path_like_digest_never_writes_outside_the_store(relay, path):
    before = everything_a_traversal_could_reach(relay)
    answer = requests.put(
        f"{relay.url}/blobs/{path}", data=b"data", headers=relay.headers("alpha"), timeout=10
    )
    assert answer.status_code in {400, 404}
    assert code_of(answer) in {"invalid", "not_found"}
    created = everything_a_traversal_could_reach(relay) - before
    assert not [p for p in created if "escape" in p.name or "0" * 62 in p.name]
    assert not [
        p
        for p in created
        if relay.data_dir.parent in p.parents and not p.name.endswith((".log", "-wal", "-shm"))
    ]


def test_an_upload_without_content_length_is_411(relay):
    data = b"chunked bytes"
    answer = api(relay, "alpha", "PUT", f"/blobs/{sha(data)}", data=iter([data]))
    assert answer.status_code == 411
    assert code_of(answer) == "invalid"
    assert not any(sha(data) in name for name in store_files(relay))


def test_an_upload_cut_off_halfway_leaves_nothing_in_the_store(relay):
    data = os.urandom(2 * MiB)
    conn = raw_put(relay, "alpha", sha(data), len(data), data[:MiB])
    wait_until(lambda: temp_files(relay) != set())  # the relay is writing it
    conn.close()
    wait_until(lambda: temp_files(relay) == set())
    assert api(relay, "alpha", "HEAD", f"/blobs/{sha(data)}").status_code == 404
    assert not any(sha(data) in name for name in store_files(relay))


def test_blob_routes_need_the_token(relay):
    data = b"secret"
    put(relay, "alpha", data)
    for method in ("PUT", "GET", "HEAD"):
        answer = requests.request(
            method, f"{relay.url}/blobs/{sha(data)}", headers={"X-Client-Id": "alpha"}, timeout=5
        )
        assert answer.status_code == 401


# --- limits ----------------------------------------------------------------------------------


@pytest.fixture
def small_relay(start_relay):
    return start_relay(max_blob_bytes=MiB, blob_quota_bytes=3 * MiB, inline_file_bytes=1024)


def test_an_oversize_upload_is_too_large_before_a_byte_is_read(small_relay):
    conn = raw_put(small_relay, "alpha", sha(b"big"), MiB + 1)  # headers only, no body sent
    status, body = answer_of(conn)
    conn.close()
    assert status == 413
    assert b'"too_large"' in body
    assert store_files(small_relay) == set()


def test_an_upload_over_the_quota_is_507_and_stores_nothing(small_relay):
    for n in range(3):
        assert put(small_relay, "alpha", bytes([n]) * MiB).status_code == 201
    before = store_files(small_relay)
    conn = raw_put(small_relay, "alpha", sha(b"x" * 10), 10)
    status, body = answer_of(conn)
    conn.close()
    assert status == 507
    assert b'"quota_exceeded"' in body
    assert store_files(small_relay) == before


def test_uploads_dripping_a_byte_at_a_time_cannot_make_another_clients_upload_fail(
    small_relay,
):
    # Three uploads declaring 1 MiB each used to reserve the whole 3 MiB quota before a byte
    # arrived; dripping a byte every 20 s (under the idle cut) kept everyone else at 507.
    drips = [
        raw_put(small_relay, f"mallory-{n}", sha(bytes([n]) * MiB), MiB, body=b"\0")
        for n in range(3)
    ]
    try:
        wait_until(lambda: len(temp_files(small_relay)) == 3)  # all three uploads have begun
        data = os.urandom(MiB)
        assert put(small_relay, "alice", data).status_code == 201
        assert api(small_relay, "alice", "GET", f"/blobs/{sha(data)}").content == data
    finally:
        for conn in drips:
            conn.close()
    wait_until(lambda: temp_files(small_relay) == set())


def test_one_client_cannot_hold_more_than_twice_the_largest_file_in_uploads(small_relay):
    held = [raw_put(small_relay, "mallory", sha(bytes([n]) * MiB), MiB) for n in range(2)]
    try:
        wait_until(lambda: len(temp_files(small_relay)) == 2)
        conn = raw_put(small_relay, "mallory", sha(b"third"), 5)
        status, body = answer_of(conn)
        conn.close()
        assert status == 429
        assert b'"rate_limited"' in body
        assert put(small_relay, "alice", b"alice is not mallory").status_code == 201
    finally:
        for conn in held:
            conn.close()


def test_status_reports_the_file_limits_and_counts(small_relay):
    data = os.urandom(1234)
    put(small_relay, "alpha", data)
    status = Status.model_validate(api(small_relay, "alpha", "GET", "/api/v1/status").json())
    assert (status.counts.blobs, status.counts.blob_bytes) == (1, 1234)
    assert status.limits.max_blob_bytes == MiB
    assert status.limits.blob_quota_bytes == 3 * MiB
    assert status.limits.inline_file_bytes == 1024


# --- who may download ------------------------------------------------------------------------


def test_a_file_is_visible_only_to_its_uploader_until_it_is_attached(relay, session_name):
    data = os.urandom(4096)
    digest = sha(data)
    put(relay, "alpha", data)
    for method in ("GET", "HEAD"):
        assert api(relay, "beta", method, f"/blobs/{digest}").status_code == 404
    create_session(relay, session_name, "alpha", ["beta"])
    attachment = {"sha256": digest, "filename": "notes.bin", "mime": "application/x-test"}
    assert send(relay, "alpha", session_name, "here", [attachment]).status_code == 201
    assert api(relay, "beta", "GET", f"/blobs/{digest}").content == data
    assert api(relay, "carol", "GET", f"/blobs/{digest}").status_code == 404
    page = MessagePage.model_validate(
        api(relay, "beta", "GET", f"/api/v1/sessions/{session_name}/messages").json()
    )
    [message] = page.messages
    assert [(a.sha256, a.filename, a.size, a.mime) for a in message.attachments] == [
        (digest, "notes.bin", 4096, "application/x-test")
    ]


def test_a_narrowed_message_shares_its_file_only_with_its_recipients(relay, session_name):
    data = os.urandom(100)
    put(relay, "alpha", data)
    create_session(relay, session_name, "alpha", ["beta", "carol"])
    attachment = {"sha256": sha(data), "filename": "for-beta.txt"}
    assert send(relay, "alpha", session_name, "psst", [attachment], to=["beta"]).status_code == 201
    assert api(relay, "beta", "GET", f"/blobs/{sha(data)}").status_code == 200
    assert api(relay, "carol", "GET", f"/blobs/{sha(data)}").status_code == 404


def test_attaching_a_file_never_uploaded_is_invalid(relay, session_name):
    create_session(relay, session_name, "alpha", ["beta"])
    attachment = {"sha256": sha(b"not uploaded"), "filename": "ghost.txt"}
    answer = send(relay, "alpha", session_name, "see file", [attachment])
    assert answer.status_code == 400
    assert code_of(answer) == "invalid"


def test_knowing_a_digest_is_not_enough_to_pass_a_file_on(relay, session_name):
    data = os.urandom(100)
    put(relay, "alpha", data)
    create_session(relay, session_name, "beta", ["carol"])
    answer = send(relay, "beta", session_name, "look", [{"sha256": sha(data), "filename": "x"}])
    assert answer.status_code == 400
    assert code_of(answer) == "invalid"
    assert api(relay, "carol", "GET", f"/blobs/{sha(data)}").status_code == 404


def test_an_attachment_with_a_path_for_a_name_is_invalid(relay, session_name):
    data = os.urandom(10)
    put(relay, "alpha", data)
    create_session(relay, session_name, "alpha", ["beta"])
    attachment = {"sha256": sha(data), "filename": "../../etc/passwd"}
    answer = send(relay, "alpha", session_name, "x", [attachment])
    assert answer.status_code == 400
    assert code_of(answer) == "invalid"


# --- garbage collection ----------------------------------------------------------------------


def run_gc(relay, *args):
    return subprocess.run(
        [sys.executable, "-m", "relay_server", "gc", "--data-dir", str(relay.data_dir), *args],
        env={**os.environ, **relay.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_gc_removes_exactly_the_unattached_files_while_the_relay_runs(start_relay):
    relay = start_relay(blob_quota_bytes=2 * MiB)
    kept, dropped = os.urandom(MiB), os.urandom(MiB)
    put(relay, "alpha", kept)
    put(relay, "alpha", dropped)
    create_session(relay, "gc-test", "alpha", ["beta"])
    send(relay, "alpha", "gc-test", "keep this", [{"sha256": sha(kept), "filename": "k.bin"}])

    assert "0 unreferenced" in run_gc(relay)  # inside the default 24 h grace: nothing
    dry = run_gc(relay, "--dry-run", "--grace", "0s")
    assert f"would remove {sha(dropped)}" in dry
    assert sha(kept) not in dry
    assert api(relay, "alpha", "HEAD", f"/blobs/{sha(dropped)}").status_code == 200

    real = run_gc(relay, "--grace", "0s")
    assert f"removed {sha(dropped)}" in real
    assert "freed 1.0 MiB" in real
    assert api(relay, "alpha", "HEAD", f"/blobs/{sha(dropped)}").status_code == 404
    assert api(relay, "beta", "GET", f"/blobs/{sha(kept)}").content == kept
    # The running relay finds the freed room (its quota is full without it).
    assert put(relay, "alpha", os.urandom(MiB)).status_code == 201


def files_open_on(digest: str) -> list[str]:
    """Paths this process holds open whose name contains ``digest``."""
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if digest in target:
            paths.append(target)
    return paths


@pytest.mark.anyio
async def test_a_download_that_fails_before_its_body_starts_closes_the_file(tmp_path):
    # A client that goes away before the first byte leaves a response that is never iterated:
    # the blob's file used to stay open until garbage collection found it.
    store = BlobStore(tmp_path / "blobs", max_blob_bytes=MiB, quota_bytes=MiB)
    digest, _ = store.add_bytes(b"bytes nobody will receive")
    reader = store.open_for_read(digest)
    response = BlobResponse(reader, 200, {})
    started = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        started.append(message["type"])
        raise OSError("the client went away")

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}}
    with pytest.raises(ClientDisconnect):  # what Starlette makes of the failed send
        await response(scope, receive, send)
    assert started == ["http.response.start"]  # the response got as far as its head
    assert files_open_on(digest) == []  # while the reader itself is still referenced

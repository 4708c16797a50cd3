"""The blob store on real files: writes are all-or-nothing, reads verify, quota and gc hold."""

import hashlib
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay_core import errors
from relay_core.blobs import CHUNK_BYTES
from relay_server.storage.blobs import STALE_TEMP_S, BlobStore, StoredBlob, Usage

MiB = 1024 * 1024
DAY = 86400.0


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(root: Path) -> list[str]:
    """Every file below the store root (hidden temp files included), relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def age(path: Path, seconds: float) -> None:
    """Make a file look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def upload_in_chunks(store: BlobStore, data: bytes, chunk_bytes: int) -> bool:
    with store.begin(sha(data), len(data)) as upload:
        for offset in range(0, len(data), chunk_bytes):
            upload.write(data[offset : offset + chunk_bytes])
        return upload.commit()


def read_into(store: BlobStore, digest: str, served: bytearray, start: int = 0) -> None:
    """Read a blob into ``served`` chunk by chunk, so a failure shows how much arrived."""
    with store.open_for_read(digest, start=start) as reader:
        for chunk in reader:
            served += chunk


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "blobs", max_blob_bytes=8 * MiB, quota_bytes=32 * MiB)


# --- writing ---------------------------------------------------------------------------------


def test_an_upload_is_stored_under_its_fanout_path_and_counted(store):
    data = b"hello relay"
    with store.begin(sha(data), len(data)) as upload:
        upload.write(data[:5])
        upload.write(data[5:])
        assert upload.commit() is True
    assert files_in(store.root) == [f"{sha(data)[:2]}/{sha(data)}"]
    assert store.path_of(sha(data)).read_bytes() == data
    assert store.usage() == Usage(1, len(data))
    assert store.reserved_bytes() == 0
    assert store.stat(sha(data)).size == len(data)


def test_uploading_known_bytes_again_stores_nothing_new(store):
    data = b"same"
    assert store.put_bytes(sha(data), data) is True
    assert store.put_bytes(sha(data), data) is False
    assert store.usage() == Usage(1, 4)
    assert files_in(store.root) == [f"{sha(data)[:2]}/{sha(data)}"]


def test_bytes_in_memory_are_stored_under_their_own_digest(store):
    data = os.urandom(3 * CHUNK_BYTES + 5)
    assert store.add_bytes(data, owner="alpha") == (sha(data), True)
    assert store.add_bytes(data, owner="alpha") == (sha(data), False)
    assert store.read_bytes(sha(data)) == data
    assert store.usage() == Usage(1, len(data))
    assert (store.reserved_bytes(), store.in_flight_for("alpha")) == (0, 0)
    assert files_in(store.root) == [f"{sha(data)[:2]}/{sha(data)}"]


def test_an_empty_file_is_a_blob_too(store):
    assert store.put_bytes(sha(b""), b"") is True
    assert store.read_bytes(sha(b"")) == b""
    assert store.usage() == Usage(1, 0)


def test_a_digest_mismatch_is_invalid_and_leaves_nothing_in_the_store(store):
    data = b"the real bytes"
    claimed = sha(b"other bytes")
    upload = store.begin(claimed, len(data))
    upload.write(data)
    with pytest.raises(errors.InvalidInput, match=r"^digest mismatch: ") as caught:
        upload.commit()
    assert caught.value.code == errors.INVALID
    assert files_in(store.root) == []
    assert not store.exists(claimed)
    assert store.usage() == Usage(0, 0)
    assert store.reserved_bytes() == 0


def test_an_upload_cut_off_halfway_leaves_nothing_in_the_store(store):
    data = os.urandom(2 * MiB)
    upload = store.begin(sha(data), len(data))
    upload.write(data[:MiB])
    assert len(files_in(store.root)) == 1  # the hidden temp file, never the blob's name
    assert not store.exists(sha(data))
    upload.abort()
    upload.abort()
    assert files_in(store.root) == []
    assert store.reserved_bytes() == 0


def test_an_exception_inside_the_upload_block_aborts_it(store):
    data = b"x" * 100

    def upload_until_the_client_goes_away():
        with store.begin(sha(data), len(data)) as upload:
            upload.write(data[:50])
            raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        upload_until_the_client_goes_away()
    assert files_in(store.root) == []
    assert store.reserved_bytes() == 0


def test_committing_fewer_bytes_than_declared_is_invalid(store):
    data = b"0123456789"
    upload = store.begin(sha(data), len(data))
    upload.write(data[:4])
    with pytest.raises(errors.InvalidInput) as caught:
        upload.commit()
    assert caught.value.code == errors.INVALID
    assert files_in(store.root) == []


def test_writing_more_bytes_than_declared_is_invalid(store):
    data = b"0123456789"
    upload = store.begin(sha(data), 5)
    with pytest.raises(errors.InvalidInput) as caught:
        upload.write(data)
    assert caught.value.code == errors.INVALID
    assert files_in(store.root) == []
    with pytest.raises(RuntimeError):
        upload.write(b"more")


@pytest.mark.parametrize(
    "digest",
    [
        "../" + "0" * 61,
        "0" * 62 + "/x",
        "/etc/passwd",
        "..",
        "A" * 64,
        "g" * 64,
        "0" * 63,
        "0" * 65,
        "",
        "0" * 63 + "\n",
    ],
)
def test_a_path_like_or_non_hex_digest_is_invalid_everywhere(store, digest):
    for attempt in (
        lambda: store.begin(digest, 1),
        lambda: store.exists(digest),
        lambda: store.stat(digest),
        lambda: store.open_for_read(digest),
    ):
        with pytest.raises(errors.InvalidInput) as caught:
            attempt()
        assert caught.value.code == errors.INVALID
    assert files_in(store.root.parent) == []


def test_a_declared_size_over_the_limit_is_too_large_before_any_byte(store):
    with pytest.raises(errors.TooLarge) as caught:
        store.begin(sha(b"big"), 8 * MiB + 1)
    assert caught.value.code == errors.TOO_LARGE
    assert files_in(store.root) == []
    assert store.reserved_bytes() == 0


def test_bytes_past_the_limit_are_too_large_while_writing(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100)
    data = b"x" * 11
    upload = store.begin(sha(data), 10)
    upload.write(data[:6])
    with pytest.raises(errors.TooLarge) as caught:
        upload.write(data[6:])
    assert caught.value.code == errors.TOO_LARGE
    assert files_in(tmp_path) == []


def test_a_negative_declared_size_is_invalid(store):
    with pytest.raises(errors.InvalidInput):
        store.begin(sha(b""), -1)


def test_an_upload_over_the_quota_is_refused_before_any_byte(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=150)
    first = b"a" * 100
    store.put_bytes(sha(first), first)
    second = b"b" * 60
    with pytest.raises(errors.QuotaExceeded) as caught:
        store.begin(sha(second), len(second))
    assert caught.value.code == errors.QUOTA_EXCEEDED
    assert files_in(tmp_path) == [f"{sha(first)[:2]}/{sha(first)}"]


def test_uploads_in_flight_count_against_the_quota_until_they_end(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=150)
    first, second = b"a" * 100, b"b" * 60
    in_flight = store.begin(sha(first), len(first))
    in_flight.write(first)
    with pytest.raises(errors.QuotaExceeded):
        store.begin(sha(second), len(second))
    in_flight.abort()
    assert store.reserved_bytes() == 0
    assert store.put_bytes(sha(second), second) is True


def test_a_dripping_upload_holds_only_the_bytes_it_sent_not_what_it_declared(tmp_path):
    # Declared sizes used to be reserved up front: two uploads declaring the whole quota and
    # sending a byte now and then kept every other upload out with 507 for as long as they ran.
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=150)
    drips = [store.begin(sha(bytes([n]) * 100), 100, owner=f"mallory-{n}") for n in range(2)]
    for drip in drips:
        drip.write(b"\0")
    assert store.reserved_bytes() == 2
    other = b"b" * 100
    assert store.put_bytes(sha(other), other) is True
    for drip in drips:
        drip.abort()
    assert store.reserved_bytes() == 0
    assert store.usage() == Usage(1, 100)


def test_the_quota_holds_while_bytes_arrive(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=150)
    first, second = b"a" * 100, b"b" * 100
    fast = store.begin(sha(first), 100)
    slow = store.begin(sha(second), 100)  # both fit on their own when they start
    fast.write(first)
    slow.write(second[:50])
    with pytest.raises(errors.QuotaExceeded):
        slow.write(second[50:51])
    assert not slow.temp.exists()
    assert fast.commit() is True
    assert store.usage() == Usage(1, 100)
    assert store.reserved_bytes() == 0
    assert files_in(tmp_path) == [f"{sha(first)[:2]}/{sha(first)}"]


def test_one_client_cannot_declare_more_than_its_cap_in_uploads_in_flight(tmp_path):
    store = BlobStore(
        tmp_path, max_blob_bytes=100, quota_bytes=10_000, max_in_flight_per_client_bytes=150
    )
    held = store.begin(sha(b"one"), 100, owner="mallory")
    with pytest.raises(errors.RateLimited) as caught:
        store.begin(sha(b"two"), 100, owner="mallory")
    assert caught.value.code == errors.RATE_LIMITED
    assert store.in_flight_for("mallory") == 100
    alice = store.begin(sha(b"three"), 100, owner="alice")
    assert store.in_flight_for("alice") == 100
    held.abort()
    alice.abort()
    assert store.in_flight_for("mallory") == store.in_flight_for("alice") == 0
    assert store.put_bytes(sha(b"x" * 100), b"x" * 100) is True


def test_bytes_already_stored_need_no_room_in_a_full_store(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=100)
    data = b"a" * 100
    store.put_bytes(sha(data), data)
    assert store.put_bytes(sha(data), data) is False


def test_concurrent_uploads_of_the_same_bytes_store_one_blob(store):
    data = os.urandom(3 * MiB + 17)
    digest = sha(data)
    workers = 8
    barrier = threading.Barrier(workers)
    results: list[bool] = []
    failures: list[BaseException] = []

    def upload_once():
        try:
            with store.begin(digest, len(data)) as upload:
                barrier.wait(timeout=10)
                upload.write(data[: len(data) // 2])
                upload.write(data[len(data) // 2 :])
                barrier.wait(timeout=10)
                results.append(upload.commit())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=upload_once) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert sorted(results) == [False] * (workers - 1) + [True]
    assert files_in(store.root) == [f"{digest[:2]}/{digest}"]
    assert store.read_bytes(digest) == data
    assert store.usage() == Usage(1, len(data))
    assert store.reserved_bytes() == 0


def test_usage_is_rebuilt_by_scanning_when_the_store_opens(store):
    blobs = [os.urandom(n) for n in (1, 1000, 70000)]
    for data in blobs:
        store.put_bytes(sha(data), data)
    (store.root / "README").write_text("not a blob")
    reopened = BlobStore(store.root, max_blob_bytes=8 * MiB, quota_bytes=32 * MiB)
    assert reopened.usage() == Usage(3, 71001) == store.usage()


@pytest.fixture
def tiny_disk(tmp_path, require_tool):
    """A 1 MiB tmpfs, so writes really hit ENOSPC (needs root; skipped elsewhere)."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    require_tool(mounted.returncode == 0, "cannot mount a tmpfs here (needs root)")
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


def test_a_full_disk_is_quota_exceeded_and_leaves_no_temp_file(tiny_disk):
    store = BlobStore(tiny_disk / "blobs", max_blob_bytes=8 * MiB, quota_bytes=8 * MiB)
    data = os.urandom(2 * MiB)
    with pytest.raises(errors.QuotaExceeded) as caught:
        upload_in_chunks(store, data, 64 * 1024)
    assert caught.value.code == errors.QUOTA_EXCEEDED
    assert "disk is full" in caught.value.message
    assert files_in(store.root) == []
    assert store.usage() == Usage(0, 0)
    assert store.reserved_bytes() == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=5000), max_size=12))
def test_any_chunking_of_any_bytes_round_trips(chunks):
    data = b"".join(chunks)
    with tempfile.TemporaryDirectory() as root:
        store = BlobStore(Path(root), max_blob_bytes=MiB, quota_bytes=MiB)
        with store.begin(sha(data), len(data)) as upload:
            for chunk in chunks:
                upload.write(chunk)
            upload.commit()
        assert store.read_bytes(sha(data)) == data
        assert files_in(Path(root)) == [f"{sha(data)[:2]}/{sha(data)}"]


# --- reading ---------------------------------------------------------------------------------


def test_a_missing_blob_is_not_found(store):
    digest = sha(b"never uploaded")
    assert not store.exists(digest)
    for attempt in (lambda: store.stat(digest), lambda: store.open_for_read(digest)):
        with pytest.raises(errors.NotFound) as caught:
            attempt()
        assert caught.value.code == errors.NOT_FOUND


def test_a_read_from_an_offset_returns_the_rest(store):
    data = os.urandom(2 * CHUNK_BYTES + 123)
    store.put_bytes(sha(data), data)
    with store.open_for_read(sha(data), start=CHUNK_BYTES + 5) as reader:
        assert reader.size == len(data)
        assert reader.length == len(data) - CHUNK_BYTES - 5
        assert b"".join(reader) == data[CHUNK_BYTES + 5 :]


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.data())
def test_any_range_inside_a_blob_reads_exactly_those_bytes(data, draw):
    start = draw.draw(st.integers(0, len(data) - 1))
    end = draw.draw(st.integers(start, len(data) + 10))
    with tempfile.TemporaryDirectory() as root:
        store = BlobStore(Path(root), max_blob_bytes=MiB, quota_bytes=MiB)
        store.put_bytes(sha(data), data)
        with store.open_for_read(sha(data), start=start, end=end) as reader:
            served = b"".join(reader)
        assert served == data[start : end + 1]
        assert len(served) == reader.length


@pytest.mark.parametrize(("start", "end"), [(10, None), (11, None), (-1, None), (5, 4)])
def test_a_range_outside_the_blob_is_invalid(store, start, end):
    data = b"0123456789"
    store.put_bytes(sha(data), data)
    with pytest.raises(errors.InvalidInput):
        store.open_for_read(sha(data), start=start, end=end)


def test_a_corrupt_blob_is_never_served_whole_and_is_moved_out_of_the_store(store):
    data = os.urandom(3 * CHUNK_BYTES)
    digest = sha(data)
    store.put_bytes(digest, data)
    path = store.path_of(digest)
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))
    served = bytearray()
    with pytest.raises(errors.NotFound) as caught:
        read_into(store, digest, served)
    assert caught.value.code == errors.NOT_FOUND
    assert len(served) < len(data)
    assert not store.exists(digest)
    assert store.usage() == Usage(0, 0)
    assert store.put_bytes(digest, data) is True
    assert store.read_bytes(digest) == data


def bytes_read_by_this_thread() -> int:
    """What this thread has read through system calls so far (Linux ``/proc``)."""
    with open("/proc/thread-self/io") as counters:
        return next(int(line.split()[1]) for line in counters if line.startswith("rchar:"))


needs_io_counters = pytest.mark.skipif(
    not Path("/proc/thread-self/io").exists(), reason="needs Linux /proc/thread-self/io"
)


@needs_io_counters
@pytest.mark.parametrize(("start", "end"), [(0, 0), (5 * MiB, 5 * MiB + 99), (8 * MiB - 1, None)])
def test_a_range_reads_from_disk_only_the_bytes_it_serves(store, start, end):
    data = bytes(8 * MiB)
    store.put_bytes(sha(data), data)
    before = bytes_read_by_this_thread()
    with store.open_for_read(sha(data), start=start, end=end) as reader:
        served = b"".join(reader)
    cost = bytes_read_by_this_thread() - before
    assert served == data[start : (end + 1 if end is not None else None)]
    assert cost < len(served) + 64 * 1024  # a file system block or so of read-ahead at most


@needs_io_counters
def test_a_whole_read_reads_the_blob_once_to_serve_and_verify_it(store):
    data = bytes(8 * MiB)
    store.put_bytes(sha(data), data)
    before = bytes_read_by_this_thread()
    assert store.read_bytes(sha(data)) == data
    assert len(data) <= bytes_read_by_this_thread() - before < len(data) + 64 * 1024


def test_a_range_of_a_damaged_blob_is_served_as_stored_and_a_whole_read_catches_it(store):
    # Ranges trust the check made at write time (see BlobReader): their bytes are what is on
    # disk, and the next whole read (or `check`) finds the damage and moves the copy aside.
    data = os.urandom(2 * CHUNK_BYTES)
    digest = sha(data)
    store.put_bytes(digest, data)
    damaged = bytearray(data)
    damaged[0] ^= 0xFF
    store.path_of(digest).write_bytes(bytes(damaged))
    served = bytearray()
    read_into(store, digest, served, start=CHUNK_BYTES)
    assert served == data[CHUNK_BYTES:]
    with pytest.raises(errors.NotFound):
        read_into(store, digest, bytearray())
    assert not store.exists(digest)


def test_verify_tells_an_intact_blob_from_a_corrupt_one(store):
    good, bad = b"good bytes", b"bad bytes"
    store.put_bytes(sha(good), good)
    store.put_bytes(sha(bad), bad)
    store.path_of(sha(bad)).write_bytes(b"bad bytez")
    assert store.verify(sha(good)) is True
    assert store.verify(sha(bad)) is False
    assert store.usage() == Usage(1, len(good))


def test_a_truncated_blob_is_repaired_by_the_next_upload(store):
    data = b"complete content"
    store.put_bytes(sha(data), data)
    store.path_of(sha(data)).write_bytes(data[:5])
    store.rescan()
    assert store.put_bytes(sha(data), data) is False
    assert store.read_bytes(sha(data)) == data
    assert store.usage() == Usage(1, len(data))


# --- garbage collection ----------------------------------------------------------------------


def put_aged(store: BlobStore, data: bytes, seconds: float) -> str:
    store.put_bytes(sha(data), data)
    age(store.path_of(sha(data)), seconds)
    return sha(data)


def leftover(store: BlobStore, data: bytes, seconds: float) -> Path:
    """A temp file as a crashed upload would leave it."""
    path = store.root / sha(data)[:2] / f".{sha(data)}.0123456789abcdef.part"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    age(path, seconds)
    return path


def test_gc_removes_exactly_the_unreferenced_expired_blobs_and_stale_temps(store):
    kept_referenced = put_aged(store, b"referenced, old", 2 * DAY)
    removed = put_aged(store, b"unreferenced, old", 2 * DAY)
    kept_young = put_aged(store, b"unreferenced, young", 60)
    stale = leftover(store, b"crashed upload", STALE_TEMP_S + 60)
    fresh = leftover(store, b"slow upload", 60)
    active_data = b"an upload still in flight"
    active = store.begin(sha(active_data), len(active_data))
    active.write(active_data[:5])
    age(active.temp, 2 * STALE_TEMP_S)

    report = store.gc({kept_referenced}, grace_s=DAY)

    assert [blob.sha256 for blob in report.blobs] == [removed]
    assert report.blob_bytes == len(b"unreferenced, old")
    assert report.temp_files == [str(stale.relative_to(store.root))]
    assert report.freed_bytes == report.blob_bytes + len(b"crashed upload") // 2
    assert store.exists(kept_referenced)
    assert store.exists(kept_young)
    assert not store.exists(removed)
    assert not stale.exists()
    assert fresh.exists()
    assert active.temp.exists()
    assert store.usage() == Usage(2, len(b"referenced, old") + len(b"unreferenced, young"))
    active.write(active_data[5:])
    assert active.commit() is True


def test_gc_in_another_process_keeps_the_old_temp_file_of_an_upload_still_in_flight(store):
    # `agent-relay-server gc` opens its own store: the relay's list of active uploads is not
    # there, only the lock on the file says an upload is still writing it.
    data = b"an upload stalled for hours"
    stalled = store.begin(sha(data), len(data))
    stalled.write(data[:9])
    age(stalled.temp, 2 * STALE_TEMP_S)
    crashed = leftover(store, b"crashed upload", STALE_TEMP_S + 60)
    gc_command = BlobStore(store.root, max_blob_bytes=8 * MiB, quota_bytes=32 * MiB)

    assert gc_command.gc(set(), grace_s=DAY, dry_run=True).temp_files == [
        str(crashed.relative_to(store.root))
    ]
    report = gc_command.gc(set(), grace_s=DAY)

    assert report.temp_files == [str(crashed.relative_to(store.root))]
    assert not crashed.exists()
    assert stalled.temp.exists()
    stalled.write(data[9:])
    assert stalled.commit() is True
    assert store.read_bytes(sha(data)) == data


def test_a_gc_dry_run_reports_the_same_and_removes_nothing(store):
    put_aged(store, b"old one", 2 * DAY)
    put_aged(store, b"old two", 2 * DAY)
    leftover(store, b"crashed upload", STALE_TEMP_S + 60)
    before = files_in(store.root)

    dry = store.gc(set(), grace_s=DAY, dry_run=True)
    assert dry.dry_run
    assert files_in(store.root) == before
    assert store.usage().count == 2

    real = store.gc(set(), grace_s=DAY)
    assert sorted(real.blobs) == sorted(dry.blobs)
    assert real.temp_files == dry.temp_files
    assert files_in(store.root) == []
    assert store.usage() == Usage(0, 0)


def test_gc_asks_a_predicate_about_each_candidate(store):
    old = put_aged(store, b"old", 2 * DAY)
    young = put_aged(store, b"young", 60)
    asked: list[str] = []

    def referenced(digest: str) -> bool:
        asked.append(digest)
        return True

    assert store.gc(referenced, grace_s=DAY).blobs == []
    assert asked == [old]
    assert store.exists(young)


def test_uploading_a_blob_again_restarts_its_grace_period(store):
    data = b"sent again today"
    put_aged(store, data, 2 * DAY)
    store.put_bytes(sha(data), data)
    assert store.gc(set(), grace_s=DAY).blobs == []
    assert store.exists(sha(data))


def test_gc_uses_the_time_it_is_given(store):
    digest = put_aged(store, b"an hour old", 3600)
    assert store.gc(set(), grace_s=DAY, dry_run=True).blobs == []
    report = store.gc(set(), grace_s=DAY, now=time.time() + DAY)
    assert [blob.sha256 for blob in report.blobs] == [digest]
    assert isinstance(report.blobs[0], StoredBlob)


def test_gc_removes_quarantined_corrupt_copies(store):
    data = b"will rot"
    store.put_bytes(sha(data), data)
    store.path_of(sha(data)).write_bytes(b"has rot!")
    assert store.verify(sha(data)) is False
    report = store.gc(set(), grace_s=DAY)
    assert len(report.temp_files) == 1
    assert report.temp_files[0].endswith(".corrupt")
    assert files_in(store.root) == []


def test_space_freed_by_another_process_is_found_before_refusing(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=100)
    first, second = b"a" * 100, b"b" * 100
    store.put_bytes(sha(first), first)
    elsewhere = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=100)
    assert [b.sha256 for b in elsewhere.gc(set(), grace_s=0, now=time.time() + 1).blobs] == [
        sha(first)
    ]
    assert store.usage() == Usage(1, 100)  # the cache has not seen it yet
    assert store.put_bytes(sha(second), second) is True
    assert store.usage() == Usage(1, 100)

"""Blob store edges that mutation runs (tests/mutation/run.py blobstore) showed unpinned.

Each test fails against a mutant that passed test_blobstore.py. They cover:
- reading: the empty blob, a range past it, a copy whose size changed between open and read
  (either way), a quarantine's effect on the usage count;
- room: a store full to the byte, without room, over its quota, the quota of stored and
  received bytes together, the room a repair needs, room another replica took, when the store
  is counted again;
- uploads: one client's in-flight count, what a finished or failed upload gives back, a temp
  file whose lock fails, bytes the store already has, which directories are synced;
- races with gc and uploads: a quarantine that finds the blob repaired (before its move or
  during it), scans that meet a file just removed or a stray entry, a blob sent again while gc
  looks at it, a file in the wrong fan-out directory.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from relay_core import errors
from relay_server.storage.blobs import BlobStore, Usage, files
from relay_server.storage.blobs import store as store_module
from relay_server.storage.blobs.files import file_identity

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "blobs", max_blob_bytes=8 * MiB, quota_bytes=32 * MiB)


def test_the_empty_blob_is_read_as_zero_bytes_and_verified(store):
    store.put_bytes(sha(b""), b"")
    reader = store.open_for_read(sha(b""))
    assert (reader.start, reader.last, reader.length, reader.whole) == (0, -1, 0, True)
    assert b"".join(reader) == b""


def test_moving_a_corrupt_blob_out_takes_exactly_it_off_the_usage(store):
    blobs = [bytes([n]) * (n + 1) for n in range(5)]  # 1 to 5 bytes, 15 in all
    for data in blobs:
        store.put_bytes(sha(data), data)
    assert store.usage() == Usage(5, 15)
    damaged = blobs[3]
    store.path_of(sha(damaged)).write_bytes(b"x" * len(damaged))
    with pytest.raises(errors.NotFound):
        b"".join(store.open_for_read(sha(damaged)))
    assert store.usage() == Usage(4, 11)


def test_ending_one_upload_keeps_the_clients_other_uploads_in_flight_counted(tmp_path):
    store = BlobStore(
        tmp_path, max_blob_bytes=100, quota_bytes=10_000, max_in_flight_per_client_bytes=120
    )
    first = store.begin(sha(b"one"), 60, owner="mallory")
    second = store.begin(sha(b"two"), 40, owner="mallory")
    first.abort()
    assert store.in_flight_for("mallory") == 40
    with pytest.raises(errors.RateLimited):
        store.begin(sha(b"three"), 90, owner="mallory")  # 40 + 90 > 120
    second.abort()
    assert store.in_flight_for("mallory") == 0


def test_a_store_full_to_the_byte_counts_again_before_refusing(tmp_path):
    # gc runs in its own process: the space it frees must be found, even when the count this
    # process holds says the store is exactly full.
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=20)
    first, second = b"a" * 10, b"b" * 10
    store.put_bytes(sha(first), first)
    store.put_bytes(sha(second), second)
    store.path_of(sha(first)).unlink()  # as another process's gc would
    assert store.put_bytes(sha(b"c"), b"c") is True
    assert store.usage() == Usage(2, 11)


def test_a_range_that_starts_past_an_empty_blob_is_invalid(store):
    store.put_bytes(sha(b""), b"")
    with pytest.raises(errors.InvalidInput, match="outside blob"):
        store.open_for_read(sha(b""), start=1)


@pytest.mark.parametrize("wrong", ["00", "ff"], ids=["sorts-before", "sorts-after"])
def test_a_file_in_the_wrong_fan_out_directory_is_not_a_blob(tmp_path, wrong):
    data = b"misplaced"
    assert sha(data)[:2] not in {"00", "ff"}
    (tmp_path / wrong).mkdir()
    (tmp_path / wrong / sha(data)).write_bytes(data)
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=1000)
    assert list(store.iter_blobs()) == []
    assert store.usage() == Usage(0, 0)
    assert not store.exists(sha(data))


def test_a_store_without_room_opens_keeps_the_empty_blob_and_refuses_a_byte(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=0)
    assert store.put_bytes(sha(b""), b"") is True
    with pytest.raises(errors.QuotaExceeded):
        store.put_bytes(sha(b"x"), b"x")


def test_the_quota_counts_stored_bytes_and_bytes_received_in_flight_together(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=2)
    store.put_bytes(sha(b"a"), b"a")  # 1 stored
    with store.begin(sha(b"b"), 1) as in_flight:
        in_flight.write(b"b")  # 1 received, not stored yet
        with pytest.raises(errors.QuotaExceeded, match="2 of 2 bytes"):
            store.begin(sha(b"c"), 1)  # 1 + 1 + 1 > 2


@pytest.mark.parametrize("other", [-1, 1], ids=["sorts-before", "sorts-after"])
def test_a_blob_replaced_since_it_was_hashed_is_not_moved_aside(store, other):
    # A reader that found the bytes damaged quarantines the file it hashed; when an upload
    # has repaired the blob since, the name points at another file (whatever its inode).
    store.put_bytes(sha(b"repaired"), b"repaired")
    device, inode = file_identity(store.path_of(sha(b"repaired")).stat())
    store._quarantine(sha(b"repaired"), (device, inode + other))
    assert store.path_of(sha(b"repaired")).read_bytes() == b"repaired"
    assert store.usage() == Usage(1, 8)


def test_an_upload_repairs_a_truncated_copy_in_a_store_with_just_room_for_it(tmp_path):
    # An upload of a blob the store has holds no room while it runs; at its end the repair
    # needs room only for what it adds to the damaged copy (5 - 3 bytes): a store with room
    # for just the blob takes it.
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=5)
    data = b"hello"
    store.put_bytes(sha(data), data)
    store.path_of(sha(data)).write_bytes(data[:3])  # truncated on disk
    assert store.put_bytes(sha(data), data) is False  # not new: repaired in place
    assert store.path_of(sha(data)).read_bytes() == data
    assert store.usage() == Usage(1, 5)  # counted again: not 5 - 3 + 5


def test_a_copy_written_back_whole_after_it_was_opened_short_is_not_served_short(tmp_path):
    # Opened while truncated, then written back in place: the bytes read hash right, but the
    # reader serves only the size it opened with, so that size must match what it hashed too.
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100)
    data = b"hello"
    store.put_bytes(sha(data), data)
    path = store.path_of(sha(data))
    path.write_bytes(data[:3])
    reader = store.open_for_read(sha(data))
    with path.open("r+b") as same_file:  # the same inode, not a new file
        same_file.write(data)
    with reader, pytest.raises(errors.NotFound, match="failed verification"):
        b"".join(reader)


def test_a_copy_cut_back_to_the_blob_after_it_was_opened_long_is_not_served(tmp_path):
    # The mirror case: opened with trailing bytes, then cut back in place to the blob's bytes.
    # They hash right, but the answer announced the size it opened with, which is not theirs.
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100)
    data = b"hello"
    store.put_bytes(sha(data), data)
    path = store.path_of(sha(data))
    path.write_bytes(data + b"junk")
    reader = store.open_for_read(sha(data))
    assert reader.length == len(data + b"junk")
    os.truncate(path, len(data))  # the same inode, not a new file
    with reader, pytest.raises(errors.NotFound, match="failed verification"):
        b"".join(reader)


def test_a_copy_truncated_outside_and_moved_aside_leaves_the_count_exact(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=10)
    store.put_bytes(sha(b"kept"), b"kept")
    store.put_bytes(sha(b"hello"), b"hello")
    store.path_of(sha(b"hello")).write_bytes(b"hel")  # truncated on disk: memory counts 5
    assert store.verify(sha(b"hello")) is False  # moved aside
    assert store.usage() == Usage(1, 4)  # not 9 - 3


def test_a_temp_file_that_cannot_be_locked_is_closed_and_removed(tmp_path, monkeypatch):
    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(files.fcntl, "flock", refuse)
    with pytest.raises(OSError, match="no locks available"):
        files.create_locked_temp(tmp_path, sha(b"upload"))
    assert list(tmp_path.iterdir()) == []  # and its handle closed: no ResourceWarning


@pytest.mark.parametrize("new_inode", ["lower", "higher"])
def test_a_quarantine_puts_back_a_blob_an_upload_replaced_during_the_move(
    tmp_path, monkeypatch, new_inode
):
    # The damaged file and its repair, made first so the test picks which inode sorts first.
    made = [tmp_path / "one", tmp_path / "two"]
    for path in made:
        path.write_bytes(b"")
    made.sort(key=lambda path: files.file_identity(path.stat()))
    repair, damaged = made if new_inode == "lower" else made[::-1]
    repair.write_bytes(b"repaired")
    blob = tmp_path / sha(b"repaired")
    os.replace(damaged, blob)
    hashed = files.file_identity(blob.stat())
    rename = os.rename

    def upload_lands_first(source, target) -> None:  # the repair is renamed in just then
        os.replace(repair, blob)
        rename(source, target)

    monkeypatch.setattr(files.os, "rename", upload_lands_first)
    assert files.quarantine(tmp_path, blob, hashed) is None
    monkeypatch.undo()
    assert blob.read_bytes() == b"repaired"
    assert list((tmp_path / files.QUARANTINE_DIR).iterdir()) == []


def test_bytes_the_store_already_has_leave_its_file_in_place(store):
    data = bytes(range(256)) * 4  # over 256 bytes: sizes no longer shared int objects
    store.put_bytes(sha(data), data)
    before = file_identity(store.path_of(sha(data)).stat())
    assert store.put_bytes(sha(data), data) is False
    assert file_identity(store.path_of(sha(data)).stat()) == before  # not rewritten


@pytest.mark.parametrize("other", [-1, 1], ids=["sorts-before", "sorts-after"])
def test_a_quarantine_of_a_blob_replaced_before_it_looks_never_moves_it(
    tmp_path, monkeypatch, other
):
    # Moving it and putting it back would leave an instant with no blob for readers.
    blob = tmp_path / sha(b"repaired")
    blob.write_bytes(b"repaired")
    device, inode = file_identity(blob.stat())
    moves: list[object] = []
    monkeypatch.setattr(files.os, "rename", lambda *paths: moves.append(paths))
    assert files.quarantine(tmp_path, blob, (device, inode + other)) is None
    assert moves == []
    assert blob.read_bytes() == b"repaired"


def test_an_upload_that_another_replica_left_no_room_for_is_refused_at_commit(tmp_path):
    # Replicas share one blobs directory and each counts its own uploads: the room is counted
    # again when the upload ends, against what the store holds by then.
    here = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=10)
    there = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=10)
    data = b"12345"
    upload = here.begin(sha(data), len(data))
    upload.write(data)  # fits: this replica knows of nothing stored
    there.put_bytes(sha(b"abcdef"), b"abcdef")
    with pytest.raises(errors.QuotaExceeded):
        here.begin(sha(b"another"), 6)  # counts the store again, and learns of the 6 bytes
    with pytest.raises(errors.QuotaExceeded):
        upload.commit()  # 6 + 5 > 10
    assert not here.exists(sha(data))


def test_a_repair_is_refused_when_another_replica_took_the_room_it_adds(tmp_path):
    # The repair needs room for the 2 bytes it adds to the damaged copy when it ends; another
    # replica stored 4 bytes meanwhile, and 3 + 4 + 2 > 8.
    here = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=8)
    there = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=8)
    data = b"hello"
    here.put_bytes(sha(data), data)
    here.path_of(sha(data)).write_bytes(data[:3])  # truncated on disk
    upload = here.begin(sha(data), len(data))
    upload.write(data)
    there.put_bytes(sha(b"abcd"), b"abcd")
    with pytest.raises(errors.QuotaExceeded):
        here.begin(sha(b"another"), 4)  # counts the store again, and learns of the 4 bytes
    with pytest.raises(errors.QuotaExceeded, match=r"\(2 bytes\)"):
        upload.commit()  # 3 + 4 + 2 > 8
    assert here.path_of(sha(data)).read_bytes() == data[:3]  # left for a later repair


def blobs_in_one_fan_out(root, count: int) -> list[str]:
    """``count`` stored blobs whose digests share their first two hex digits, by name."""
    names: list[str] = []
    n = 0
    while len(names) < count:
        digest = sha(str(n).encode())
        if digest.startswith("00"):
            (root / "00").mkdir(exist_ok=True)
            (root / "00" / digest).write_bytes(str(n).encode())
            names.append(digest)
        n += 1
    return names


def test_the_blob_scan_goes_on_past_a_blob_removed_while_it_looks(tmp_path):
    # gc runs in its own process: a blob it removes mid-scan must not end the count early.
    blobs_in_one_fan_out(tmp_path, 3)
    with os.scandir(tmp_path / "00") as entries:
        order = [entry.name for entry in entries]  # the order the scan meets them
    scan = files.iter_blobs(tmp_path)
    assert next(scan).sha256 == order[0]
    (tmp_path / "00" / order[1]).unlink()
    assert [blob.sha256 for blob in scan] == [order[2]]


def test_the_leftover_scan_goes_on_past_a_leftover_removed_while_it_looks(tmp_path):
    (tmp_path / "00").mkdir()
    leftovers = sorted(
        tmp_path / "00" / files.leftover_name("0" * 64, files.TEMP_SUFFIX) for _ in range(3)
    )
    for path in leftovers:
        path.write_bytes(b"partial")
        os.utime(path, (0, 0))  # untouched since 1970: stale
    scan = files.stale_leftovers(tmp_path, cutoff=1.0, active=())
    assert next(scan) == (leftovers[0], 7)
    leftovers[1].unlink()
    assert list(scan) == [(leftovers[2], 7)]


def test_a_finished_uploads_temp_name_is_no_longer_kept_from_gc(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100)
    upload = store.begin(sha(b"abandoned"), 9)
    upload.abort()
    upload.temp.write_bytes(b"abandoned")  # a file at its name again, long untouched
    os.utime(upload.temp, (0, 0))
    report = store.gc(referenced=set(), grace_s=0)
    assert report.temp_files == [str(upload.temp.relative_to(tmp_path))]
    assert not upload.temp.exists()


def test_a_temp_file_that_cannot_be_created_gives_back_the_declared_room(tmp_path):
    digest = sha(b"upload")
    (tmp_path / digest[:2]).write_bytes(b"")  # a file where its fan-out directory goes
    store = BlobStore(
        tmp_path, max_blob_bytes=20, quota_bytes=10, max_in_flight_per_client_bytes=10
    )
    with pytest.raises(FileExistsError):
        store.begin(digest, 6, owner="alpha")
    assert store.in_flight_for("alpha") == 0
    with pytest.raises(errors.QuotaExceeded, match="0 of 10 bytes"):  # nothing else given back
        store.put_bytes(sha(b"x" * 11), b"x" * 11)


@pytest.mark.parametrize("scan", ["blobs", "leftovers"])
def test_a_stray_entry_sorting_first_does_not_end_a_scan(tmp_path, scan):
    (tmp_path / "0-stray").write_bytes(b"")  # sorts before "00"
    [digest] = blobs_in_one_fan_out(tmp_path, 1)
    leftover = tmp_path / "00" / files.leftover_name(digest, files.CORRUPT_SUFFIX)
    leftover.write_bytes(b"bad")
    if scan == "blobs":
        assert [blob.sha256 for blob in files.iter_blobs(tmp_path)] == [digest]
    else:
        assert list(files.stale_leftovers(tmp_path, cutoff=0, active=())) == [(leftover, 3)]


def test_a_store_over_its_quota_takes_no_upload_not_even_of_bytes_it_has(tmp_path):
    # Over its quota only after the operator lowered it: every upload is refused at its start,
    # the empty blob too (a longer one would be refused at its first chunk anyway).
    before = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=100)
    before.put_bytes(sha(b""), b"")
    before.put_bytes(sha(b"eleven byte"), b"eleven byte")
    lowered = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=10)
    with pytest.raises(errors.QuotaExceeded, match="11 of 10 bytes"):
        lowered.put_bytes(sha(b""), b"")


def test_a_new_fan_out_directory_is_made_durable_once(tmp_path, monkeypatch):
    synced: list[object] = []
    monkeypatch.setattr(store_module, "fsync_dir", synced.append)
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=1000)
    (tmp_path / "elsewhere").mkdir()
    first, second = blobs_in_one_fan_out(tmp_path / "elsewhere", 2)
    store.put_bytes(first, (tmp_path / "elsewhere" / "00" / first).read_bytes())
    assert synced == [tmp_path, tmp_path / "00"]  # the new directory's entry, then the blob's
    synced.clear()
    store.put_bytes(second, (tmp_path / "elsewhere" / "00" / second).read_bytes())
    assert synced == [tmp_path / "00"]


def test_a_store_with_room_takes_uploads_without_counting_its_files_again(tmp_path, monkeypatch):
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=14)
    counts: list[None] = []
    walk = store.iter_blobs
    monkeypatch.setattr(store, "iter_blobs", lambda: counts.append(None) or walk())
    store.put_bytes(sha(b"1"), b"1")
    in_flight = store.begin(sha(b"abc"), 3)
    in_flight.write(b"abc")
    store.put_bytes(sha(b"12345"), b"12345")  # 1 stored + 3 and 5 in flight: 9 of 14
    in_flight.abort()
    assert counts == []  # a recount walks every file: only before refusing


def test_a_blob_sent_again_while_gc_looks_at_it_is_kept(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=100, quota_bytes=1000)
    store.put_bytes(sha(b"old"), b"old")
    os.utime(store.path_of(sha(b"old")), (0, 0))  # uploaded long ago

    def referenced(digest: str) -> bool:  # asked just before removal: sent again just then
        store.put_bytes(digest, b"old")
        return False

    report = store.gc(referenced, grace_s=3600)
    assert report.blobs == []
    assert store.exists(sha(b"old"))


def test_the_store_scan_tells_every_kind_of_entry_apart(tmp_path):
    [digest] = blobs_in_one_fan_out(tmp_path, 1)
    fanout = tmp_path / "00"
    temp = fanout / files.leftover_name(digest, files.TEMP_SUFFIX)
    corrupt = fanout / files.leftover_name(digest, files.CORRUPT_SUFFIX)
    for path in (temp, corrupt, fanout / "notes.txt", tmp_path / "stray", tmp_path / "0-stray"):
        path.write_bytes(b"")  # "0-stray" sorts before "00", "stray" after it
    directory = fanout / files.leftover_name(digest, files.TEMP_SUFFIX)  # named like a temp
    directory.mkdir()
    kinds = {entry.path: entry.kind for entry in files.scan_store(tmp_path)}
    assert {path.name: kind for path, kind in kinds.items() if kind != "unexpected"} == {
        digest: "blob",
        temp.name: "temp",
        corrupt.name: "corrupt",
    }
    unexpected = {path.name for path, kind in kinds.items() if kind == "unexpected"}
    assert unexpected == {"notes.txt", "stray", "0-stray", directory.name}


def test_a_temp_file_touched_exactly_at_the_cutoff_is_not_stale_yet(tmp_path):
    (tmp_path / "00").mkdir()
    temp = tmp_path / "00" / files.leftover_name("0" * 64, files.TEMP_SUFFIX)
    temp.write_bytes(b"partial")
    os.utime(temp, (1000, 1000))
    assert list(files.stale_leftovers(tmp_path, cutoff=1000.0, active=())) == []
    assert list(files.stale_leftovers(tmp_path, cutoff=1000.5, active=())) == [(temp, 7)]


def test_a_committed_upload_is_finished(tmp_path):
    store = BlobStore(
        tmp_path, max_blob_bytes=10, quota_bytes=100, max_in_flight_per_client_bytes=20
    )
    other = store.begin(sha(b"second"), 6, owner="alpha")
    with store.begin(sha(b"first"), 5, owner="alpha") as upload:
        upload.write(b"first")
        upload.commit()
    with pytest.raises(RuntimeError, match="already finished"):
        upload.write(b"more")
    assert store.in_flight_for("alpha") == 6  # given back once, not again on leaving the block
    other.abort()


def test_a_blob_that_grows_while_it_is_read_keeps_its_last_chunk_back(store):
    # Verified reads hold the last chunk until the digest is checked: bytes past the size the
    # reader started with are hashed, never served.
    data = b"x" * 1000  # over 256: positions and sizes are not shared int objects
    store.put_bytes(sha(data), data)
    reader = store.open_for_read(sha(data))
    with store.path_of(sha(data)).open("ab") as grown:
        grown.write(b"appended")
    served: list[bytes] = []
    with pytest.raises(errors.NotFound, match="failed verification"):
        served.extend(reader)
    assert served == []


def test_an_upload_in_flight_does_not_hide_the_stale_leftovers_after_it(tmp_path):
    (tmp_path / "00").mkdir()
    live, stale = sorted(
        tmp_path / "00" / files.leftover_name("0" * 64, files.TEMP_SUFFIX) for _ in range(2)
    )
    for path in (live, stale):
        path.write_bytes(b"partial")
        os.utime(path, (0, 0))
    assert list(files.stale_leftovers(tmp_path, cutoff=1.0, active={live})) == [(stale, 7)]


def test_an_upload_ends_in_the_room_another_replicas_gc_freed_meanwhile(tmp_path):
    here = BlobStore(tmp_path, max_blob_bytes=20, quota_bytes=14)
    there = BlobStore(tmp_path, max_blob_bytes=20, quota_bytes=14)
    upload = here.begin(sha(b"12345"), 5)
    upload.write(b"12345")
    other = here.begin(sha(b"abc"), 3)
    other.write(b"abc")
    there.put_bytes(sha(b"0123456789"), b"0123456789")
    with pytest.raises(errors.QuotaExceeded):
        here.begin(sha(b"c" * 10), 10)  # counted again: 10 stored and 8 in flight, of 14
    there.path_of(sha(b"0123456789")).unlink()  # as gc in its own process would
    assert upload.commit() is True  # counted again before refusing: 5 + 3 of 14
    other.abort()


def test_the_size_of_an_absent_blob_is_none(store):
    assert store.size_of(sha(b"never stored")) is None


def test_a_cap_of_zero_in_flight_bytes_takes_only_empty_uploads(tmp_path):
    store = BlobStore(
        tmp_path, max_blob_bytes=10, quota_bytes=100, max_in_flight_per_client_bytes=0
    )
    assert store.put_bytes(sha(b""), b"") is True
    with pytest.raises(errors.RateLimited):
        store.begin(sha(b"x"), 1, owner="alpha")


def test_one_byte_still_in_flight_stays_counted(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100)
    small = store.begin(sha(b"1"), 1, owner="alpha")
    store.begin(sha(b"12345"), 5, owner="alpha").abort()
    assert store.in_flight_for("alpha") == 1
    small.abort()


def test_fsync_dir_really_syncs_the_directory(tmp_path, monkeypatch):
    synced: list[int] = []
    fsync = os.fsync

    def recorded(fd: int) -> None:  # only an fsync that worked counts
        fsync(fd)
        synced.append(os.fstat(fd).st_ino)

    monkeypatch.setattr(files.os, "fsync", recorded)
    files.fsync_dir(tmp_path)
    assert synced == [tmp_path.stat().st_ino]


@pytest.mark.parametrize("error", [errno.EPERM, errno.EXDEV, errno.EROFS])  # errno 1, 18, 30
def test_a_quarantine_copies_across_file_systems_and_fails_on_any_other_error(
    tmp_path, monkeypatch, error
):
    blob = tmp_path / sha(b"bad")
    blob.write_bytes(b"bad")

    def rename(source: object, target: object) -> None:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(files.os, "rename", rename)
    if error == errno.EXDEV:  # the quarantine folder is on another file system: copy it there
        aside = files.quarantine(tmp_path, blob)
        assert aside is not None
        assert aside.read_bytes() == b"bad"
        assert not blob.exists()
    else:
        with pytest.raises(OSError, match=os.strerror(error)):
            files.quarantine(tmp_path, blob)
        assert blob.read_bytes() == b"bad"


def test_a_blob_exactly_as_old_as_the_grace_period_is_collected(store):
    store.put_bytes(sha(b"old"), b"old")
    os.utime(store.path_of(sha(b"old")), (1000, 1000))
    report = store.gc(referenced=set(), grace_s=100, now=1100.0)
    assert [blob.sha256 for blob in report.blobs] == [sha(b"old")]


@pytest.mark.parametrize("other_inode", ["lower", "higher"])
def test_a_temp_file_replaced_before_its_lock_is_given_up_for_a_new_one(
    tmp_path, monkeypatch, other_inode
):
    # gc (another process) may remove a temp file between its creation and its lock, and a new
    # file may take the name: the upload must not write into a file it does not hold locked.
    made = [tmp_path / f"made-{i}" for i in range(8)]  # candidates for the other file
    for path in made:
        path.write_bytes(b"")
    lock = files.fcntl.flock
    swapped: list[str] = []

    def other_than(created: int) -> Path:
        """A file whose inode sorts on the asked side of ``created``: the file system may
        reuse freed inodes, so new files are not always the higher ones; make more until."""
        for i in range(64):
            for path in made:
                if (path.stat().st_ino < created) == (other_inode == "lower"):
                    return path
            made.append(tmp_path / f"made-after-{i}")
            made[-1].write_bytes(b"")
        pytest.fail(f"the file system gave no {other_inode} inode than {created}")

    def lock_after_a_swap(fd: int, operation: int) -> None:
        if not swapped:
            other = other_than(os.fstat(fd).st_ino)
            swapped.append(os.readlink(f"/proc/self/fd/{fd}"))
            os.replace(other, swapped[0])
        lock(fd, operation)

    monkeypatch.setattr(files.fcntl, "flock", lock_after_a_swap)
    temp, handle = files.create_locked_temp(tmp_path, sha(b"upload"))
    with handle:
        assert files.file_identity(os.fstat(handle.fileno())) == files.file_identity(temp.stat())
        assert str(temp) != swapped[0]  # a new name, not the one taken over


def test_an_upload_that_ends_short_is_refused_even_when_its_bytes_match_the_digest(store):
    upload = store.begin(sha(b"abc"), 5)  # declared 5 bytes; the digest is of the 3 that come
    upload.write(b"abc")
    with pytest.raises(errors.InvalidInput, match="ended after 3 of 5 bytes"):
        upload.commit()
    assert not store.exists(sha(b"abc"))


@pytest.mark.parametrize("digest_of_sent", ["lower", "higher"])
def test_bytes_whose_digest_is_not_the_declared_one_are_refused_whichever_sorts_first(
    store, digest_of_sent
):
    one, other = sorted([b"a", b"b"], key=sha)  # sha(one) < sha(other)
    declared, sent = (other, one) if digest_of_sent == "lower" else (one, other)
    upload = store.begin(sha(declared), 1)
    upload.write(sent)
    with pytest.raises(errors.InvalidInput, match="digest mismatch"):
        upload.commit()
    assert not store.exists(sha(declared))


@pytest.mark.parametrize(
    "limits",
    [
        {"max_blob_bytes": -1, "quota_bytes": 10},
        {"max_blob_bytes": 10, "quota_bytes": -1},
        {"max_blob_bytes": 10, "quota_bytes": 10, "max_in_flight_per_client_bytes": -1},
    ],
    ids=["max_blob_bytes", "quota_bytes", "max_in_flight_per_client_bytes"],
)
def test_a_negative_limit_is_refused_when_the_store_opens(tmp_path, limits):
    with pytest.raises(ValueError, match="must not be negative"):
        BlobStore(tmp_path, **limits)


def test_a_store_with_no_room_for_a_byte_per_blob_takes_only_the_empty_blob(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=0, quota_bytes=10)
    assert store.put_bytes(sha(b""), b"") is True
    with pytest.raises(errors.TooLarge):
        store.begin(sha(b"x"), 1)


def test_a_full_disk_is_told_in_the_operating_systems_words():
    refused = files.disk_full(OSError(errno.ENOSPC, "full"), "0" * 64)
    assert os.strerror(errno.ENOSPC) in str(refused)


def test_an_upload_repairs_a_copy_longer_than_the_blob(store):
    data = b"hello"
    store.put_bytes(sha(data), data)
    store.path_of(sha(data)).write_bytes(data + b" and junk")  # damaged: longer
    assert store.put_bytes(sha(data), data) is False
    assert store.path_of(sha(data)).read_bytes() == data


def test_a_directory_that_refuses_fsync_is_no_error(tmp_path, monkeypatch):
    def refuse(fd: int) -> None:
        raise OSError(errno.EINVAL, "fsync not supported on a directory here")

    monkeypatch.setattr(files.os, "fsync", refuse)
    files.fsync_dir(tmp_path)  # the rename it follows happened all the same


def test_a_repair_of_a_copy_damaged_while_the_relay_was_down_counts_the_store_exactly(tmp_path):
    data = b"hello"
    BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100).put_bytes(sha(data), data)
    (tmp_path / "other").mkdir()
    [other] = blobs_in_one_fan_out(tmp_path / "other", 1)
    BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100).put_bytes(
        other, (tmp_path / "other" / "00" / other).read_bytes()
    )
    (tmp_path / sha(data)[:2] / sha(data)).write_bytes(b"hel")  # truncated while down
    store = BlobStore(tmp_path, max_blob_bytes=10, quota_bytes=100)  # counts it as 3 bytes
    stored = store.usage().bytes
    assert store.put_bytes(sha(data), data) is False
    assert store.usage().bytes == stored - 3 + 5


def test_a_range_that_starts_past_a_one_byte_blob_is_invalid(store):
    store.put_bytes(sha(b"x"), b"x")
    with pytest.raises(errors.InvalidInput, match="outside blob"):
        store.open_for_read(sha(b"x"), start=1)


def test_a_store_creates_the_folders_above_it(tmp_path):
    BlobStore(tmp_path / "a" / "b" / "blobs", max_blob_bytes=10, quota_bytes=100)
    assert (tmp_path / "a" / "b" / "blobs").is_dir()


def test_a_blob_another_gc_removed_first_is_skipped(store):
    store.put_bytes(sha(b"old"), b"old")
    os.utime(store.path_of(sha(b"old")), (0, 0))

    def referenced(digest: str) -> bool:  # asked just before removal: the other gc wins
        store.path_of(digest).unlink()
        return False

    assert store.gc(referenced, grace_s=3600).blobs == []


def test_an_empty_upload_that_ends_last_leaves_its_owner_nothing_in_flight(tmp_path):
    store = BlobStore(
        tmp_path, max_blob_bytes=10, quota_bytes=100, max_in_flight_per_client_bytes=5
    )
    empty = store.begin(sha(b""), 0, owner="o")
    full = store.begin(sha(b"12345"), 5, owner="o")
    full.abort()  # takes the owner's count to 0, which is forgotten
    empty.abort()  # and 0 bytes are given back to nobody: nothing is left over
    assert store.in_flight_for("o") == 0
    store.begin(sha(b"54321"), 5, owner="o").abort()  # the whole cap is there again


def test_without_file_locks_a_leftover_exactly_as_old_as_the_limit_is_not_claimed(
    tmp_path, monkeypatch
):
    # Where there is no flock (Windows), only a leftover older than STALE_TEMP_S is taken.
    leftover = tmp_path / "leftover.part"
    leftover.write_bytes(b"")
    os.utime(leftover, (1_000_000, 1_000_000))
    monkeypatch.setattr(files, "fcntl", None)
    monkeypatch.setattr(files.time, "time", lambda: 1_000_000 + files.STALE_TEMP_S)
    with files.claim_leftover(leftover) as claimed:
        assert claimed is False
    monkeypatch.setattr(files.time, "time", lambda: 1_000_000 + files.STALE_TEMP_S + 1)
    with files.claim_leftover(leftover) as claimed:
        assert claimed is True


def test_a_second_file_goes_into_the_quarantine_the_first_one_made(tmp_path):
    damaged = [tmp_path / "one", tmp_path / "two"]
    for path in damaged:
        path.write_bytes(b"damaged")
    moved = [files.quarantine(tmp_path, path) for path in damaged]
    assert all(aside is not None and aside.read_bytes() == b"damaged" for aside in moved)
    assert not any(path.exists() for path in damaged)


def test_a_blob_two_readers_found_damaged_is_moved_aside_once_and_quietly_the_second_time(store):
    store.put_bytes(sha(b"damaged"), b"damaged")
    identity = file_identity(store.path_of(sha(b"damaged")).stat())
    store._quarantine(sha(b"damaged"), identity)  # the first reader
    store._quarantine(sha(b"damaged"), identity)  # the second: already gone, nothing to do
    assert not store.exists(sha(b"damaged"))
    assert store.usage() == Usage(0, 0)


def test_syncing_a_directory_that_cannot_be_opened_is_a_no_op(tmp_path):
    files.fsync_dir(tmp_path / "gone")  # as where directories cannot be opened to sync

"""Blob store edges a mutation run showed unpinned: the empty blob's reader, and the usage count
after a corrupt blob is moved out of a store that holds more than two blobs."""

from __future__ import annotations

import hashlib

import pytest

from relay_core import errors
from relay_server.blobstore import BlobStore, Usage

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

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay_core import InvalidInput, StreamingHash, hash_chunks, hash_file, validate_digest
from relay_core.blobs import CHUNK_BYTES, DIGEST_HEX_CHARS, blob_relpath, iter_file


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_streaming_hash_equals_hashing_all_at_once(chunks):
    whole = b"".join(chunks)
    result = hash_chunks(chunks)
    assert result.sha256 == hashlib.sha256(whole).hexdigest()
    assert result.size == len(whole)


def test_hash_file_streams_in_chunks(tmp_path):
    data = bytes(range(256)) * 9000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert hash_file(path) == (hashlib.sha256(data).hexdigest(), len(data))
    assert max(len(c) for c in iter_file(path, chunk_bytes=1000)) == 1000


def test_streaming_hash_counts_bytes():
    h = StreamingHash()
    h.update(b"ab")
    h.update(b"c")
    assert h.result() == (hashlib.sha256(b"abc").hexdigest(), 3)


@pytest.mark.parametrize(
    "digest",
    ["", "abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "../" + "0" * 61, "0" * 62 + "/x", None, 7],
)
def test_malformed_digests_are_invalid(digest):
    with pytest.raises(InvalidInput, match="not a SHA-256 digest"):
        validate_digest(digest)


def test_blob_relpath_fans_out_by_first_byte():
    digest = hashlib.sha256(b"x").hexdigest()
    assert blob_relpath(digest) == f"{digest[:2]}/{digest}"


def test_a_file_is_read_in_chunks_of_one_mebibyte_and_no_more(tmp_path):
    # The constant-memory promise of hash_file and of the relay's blob reads, in numbers.
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (2 * 1024 * 1024 + 1))
    assert CHUNK_BYTES == 1024 * 1024
    assert [len(chunk) for chunk in iter_file(path)] == [1024 * 1024, 1024 * 1024, 1]


def test_a_digest_is_as_long_as_a_sha256_hexdigest():
    assert DIGEST_HEX_CHARS == len(hashlib.sha256().hexdigest()) == 64
    digest = hashlib.sha256(b"x").hexdigest()
    assert validate_digest(digest) == digest


@pytest.mark.parametrize("digest", ["../" + "0" * 61, "A" * 64, "0" * 63])
def test_blob_relpath_refuses_anything_but_a_digest(digest):
    with pytest.raises(InvalidInput, match="not a SHA-256 digest"):
        blob_relpath(digest)


def test_streaming_hexdigest_is_the_digest_of_everything_fed_so_far():
    h = StreamingHash()
    assert h.hexdigest() == hashlib.sha256().hexdigest()
    h.update(b"ab")
    assert h.hexdigest() == hashlib.sha256(b"ab").hexdigest() == h.result().sha256

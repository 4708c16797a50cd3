"""File transfers in the service, in-process: receiving a stream of chunks, opening a download."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterable

import pytest

from relay_core import InvalidInput, NotFound
from relay_server.app import build_service
from relay_server.config import ServerConfig
from relay_server.http.errors import error_response
from relay_server.service import RelayService
from relay_server.service.files import (
    WRITE_BATCH_BYTES,
    BodyCutOff,
    LengthRequired,
    RangeNotSatisfiable,
)
from relay_server.storage import files

pytestmark = pytest.mark.anyio

DATA = os.urandom(1000)
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def file_service(tmp_path) -> RelayService:
    """An in-process service built as the app builds it: a fresh database and an empty blob
    store (``test_service.py``'s ``fresh_service`` has no blob store, but a session)."""
    return build_service(ServerConfig(data_dir=tmp_path, token="t" * 32))


@pytest.fixture
async def stored(file_service) -> RelayService:
    """``file_service`` holding ``DATA``, uploaded by alpha."""
    await file_service.receive_file("alpha", DIGEST, len(DATA), chunks_of(DATA))
    return file_service


async def chunks_of(data: bytes, size: int = 300) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def store_files(service: RelayService) -> set[str]:
    assert service.blobs is not None
    return {p.name for p in service.blobs.root.rglob("*") if p.is_file()}


def drain(chunks: Iterable[bytes]) -> bytes:
    return b"".join(chunks)


# --- receiving ---------------------------------------------------------------------------------


async def test_a_received_file_is_stored_and_readable_by_its_uploader_only(file_service):
    info = await file_service.receive_file("alpha", DIGEST, len(DATA), chunks_of(DATA))
    assert (info.sha256, info.size, info.created) == (DIGEST, len(DATA), True)
    assert file_service.read_blob("alpha", DIGEST) == DATA
    with pytest.raises(NotFound):
        file_service.blob_info("beta", DIGEST)


async def test_an_upload_without_a_size_is_length_required_and_reads_nothing(file_service):
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(True)
        yield DATA

    with pytest.raises(LengthRequired) as caught:
        await file_service.receive_file("alpha", DIGEST, None, body())
    assert (caught.value.code, caught.value.http_status) == ("invalid", 411)
    assert read == []
    assert store_files(file_service) == set()


async def test_a_body_cut_off_midway_is_invalid_and_leaves_no_file_and_no_record(file_service):
    async def cut_off() -> AsyncIterator[bytes]:
        yield DATA[:400]
        raise BodyCutOff

    with pytest.raises(InvalidInput, match=f"upload of {DIGEST} was cut off after 0 of 1000"):
        # 0: what was written; the 400 bytes still waiting for their batch never were
        await file_service.receive_file("alpha", DIGEST, len(DATA), cut_off())
    assert store_files(file_service) == set()  # no temp file, no blob
    with pytest.raises(NotFound):  # no upload record either: alpha may not even look
        file_service.blob_info("alpha", DIGEST)


async def test_a_body_running_past_its_size_is_refused_before_the_excess_is_read(file_service):
    sent = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            sent.append(100)
            yield bytes(100)

    with pytest.raises(InvalidInput, match="more than the 1000 bytes declared"):
        await file_service.receive_file("alpha", DIGEST, len(DATA), endless())
    assert sum(sent) <= len(DATA) + 100 < WRITE_BATCH_BYTES
    assert store_files(file_service) == set()


# --- downloading -------------------------------------------------------------------------------


async def test_a_download_without_a_range_is_the_whole_file(stored):
    download = stored.open_download("alpha", DIGEST, None, None)
    assert (download.partial, download.first, download.last, download.size) == (
        False,
        0,
        999,
        1000,
    )
    assert download.length == 1000
    assert download.etag == f'"{DIGEST}"'
    assert drain(download.chunks) == DATA


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=10-", 10, 999),
        ("bytes=10-19", 10, 19),
        ("bytes=-5", 995, 999),
        ("bytes=990-5000", 990, 999),
        ("bytes = 0-0", 0, 0),
    ],
)
async def test_a_range_is_exactly_the_bytes_asked_for(stored, header, first, last):
    download = stored.open_download("alpha", DIGEST, header, None)
    assert (download.partial, download.first, download.last) == (True, first, last)
    assert download.length == last - first + 1
    assert drain(download.chunks) == DATA[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,5-6", "items=0-5", "bytes=-", "x"])
async def test_a_range_that_does_not_parse_or_is_backwards_sends_the_whole_file(stored, header):
    download = stored.open_download("alpha", DIGEST, header, None)
    assert not download.partial
    assert drain(download.chunks) == DATA


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
async def test_a_range_past_the_end_is_not_satisfiable_and_says_the_size(stored, header):
    with pytest.raises(RangeNotSatisfiable) as caught:
        stored.open_download("alpha", DIGEST, header, None)
    assert (caught.value.code, caught.value.http_status) == ("invalid", 416)
    assert caught.value.details == {"size": 1000}


async def test_an_if_range_for_other_bytes_sends_the_whole_file(stored):
    other = stored.open_download("alpha", DIGEST, "bytes=50-", '"' + "0" * 64 + '"')
    assert not other.partial
    assert drain(other.chunks) == DATA
    ours = stored.open_download("alpha", DIGEST, "bytes=50-", f'"{DIGEST}"')
    assert (ours.partial, ours.first) == (True, 50)
    ours.chunks.close()


async def test_a_download_checks_access_once_and_a_stranger_never_opens_the_file(
    stored, monkeypatch
):
    checks: list[str] = []
    opened: list[str] = []
    may_read_blob, open_for_read = files.may_read_blob, stored.blobs.open_for_read

    def counting_check(caller: str, sha256: str) -> bool:
        checks.append(caller)
        return may_read_blob(caller, sha256)

    def recording_open(sha256: str, *args: object) -> object:
        opened.append(sha256)
        return open_for_read(sha256, *args)

    monkeypatch.setattr(files, "may_read_blob", counting_check)
    monkeypatch.setattr(stored.blobs, "open_for_read", recording_open)
    with pytest.raises(NotFound):
        stored.open_download("beta", DIGEST, "bytes=0-9", None)
    assert (checks, opened) == (["beta"], [])
    download = stored.open_download("alpha", DIGEST, "bytes=0-9", None)
    assert (checks, opened) == (["beta", "alpha"], [DIGEST])
    assert drain(download.chunks) == DATA[:10]


def test_the_error_table_answers_416_with_the_size_in_content_range():
    error = RangeNotSatisfiable("range 'bytes=9-' is past the end", details={"size": 7})
    answer = error_response(error, headers={"etag": '"x"'})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == "bytes */7"
    assert list(answer.headers)[-2:] == ["etag", "content-range"]

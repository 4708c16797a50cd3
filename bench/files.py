"""Figure 5: moving a big file through the relay, against hashing and writing it locally.

The baseline hashes the bytes with SHA-256 and writes them to a file beside the relay's data,
then fsyncs it: the least any store that verifies and keeps a file must do, on the same disk and
CPU. The relay gets the same bytes with a streamed ``PUT /blobs/{sha256}`` and sends them back
with a streamed ``GET``, which the bench hashes as it reads (a client verifies what it got). The
relay's peak resident memory is reset (``/proc/<pid>/clear_refs``) before the upload, and its
growth over both transfers must stay under 64 MiB: files stream, they are never held whole.

The bytes are a 1 MiB random block repeated with each copy's first 8 bytes set to its index,
so no two chunks are equal, and generating them costs next to nothing.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from bench.processes import Server, ServerPool, identity
from bench.report import Row
from bench.scale import MiB, Scale
from bench.wire import HttpConnection, WireError
from relay_core.wire import BLOBS_PREFIX

SPEED_TARGET: Final = 0.6
RSS_TARGET_MIB: Final = 64
CLIENT: Final = "blob-client"
FIGURE: Final = "5 blob transfer"


def chunks(size: int) -> Iterator[bytes]:
    """``size`` deterministic bytes in pieces of at most 1 MiB."""
    block = random.Random(5).randbytes(MiB)
    for index, offset in enumerate(range(0, size, MiB)):
        yield (index.to_bytes(8, "big") + block[8:])[: size - offset]


def hash_and_write(size: int, path: Path) -> tuple[str, float]:
    """The baseline: hash and write ``size`` bytes to ``path`` and fsync; digest and seconds."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for chunk in chunks(size):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return digest.hexdigest(), elapsed


async def has_blob_routes(relay: Server) -> bool:
    """True when the relay serves ``/blobs`` (the blob store has landed)."""
    connection = await HttpConnection.open(relay.port)
    try:
        answer = await connection.request("GET", f"{BLOBS_PREFIX}/{'0' * 64}", identity(CLIENT))
    finally:
        await connection.close()
    if answer.status != 404:
        return True
    return not answer.json()["error"]["message"].startswith("no route")


async def upload(relay: Server, digest: str, size: int) -> float:
    """Stream the bytes with ``PUT /blobs/{digest}``; seconds taken."""
    connection = await HttpConnection.open(relay.port)
    try:
        started = time.perf_counter()
        headers = {**identity(CLIENT), "Content-Type": "application/octet-stream"}
        await connection.send_head("PUT", f"{BLOBS_PREFIX}/{digest}", headers, size)
        for chunk in chunks(size):
            await connection.send_body(chunk)
        status, response_headers = await connection.read_head()
        body = await connection.read_body(response_headers)
        elapsed = time.perf_counter() - started
    finally:
        await connection.close()
    if status not in (200, 201):
        raise WireError(f"PUT blob: HTTP {status} {body[:300]!r}")
    return elapsed


async def download(relay: Server, digest: str, size: int) -> float:
    """Stream the bytes back with ``GET /blobs/{digest}``, hashing them; seconds taken."""
    connection = await HttpConnection.open(relay.port)
    try:
        started = time.perf_counter()
        await connection.send_head("GET", f"{BLOBS_PREFIX}/{digest}", identity(CLIENT), None)
        status, headers = await connection.read_head()
        if status != 200:
            raise WireError(f"GET blob: HTTP {status} {await connection.read_body(headers)!r}")
        check, received = hashlib.sha256(), 0
        async for chunk in connection.iter_body(headers, MiB):
            check.update(chunk)
            received += len(chunk)
        elapsed = time.perf_counter() - started
    finally:
        await connection.close()
    if received != size or check.hexdigest() != digest:
        raise WireError(f"GET blob: got {received} bytes with another digest")
    return elapsed


async def files_figure(scale: Scale, pool: ServerPool) -> list[Row]:
    """Figure 5: blob upload and download MiB/s vs hash+write locally; relay RSS growth."""
    relay = pool.shared_relay()
    if not await has_blob_routes(relay):
        return [Row.skip(FIGURE, "upload / download", "blob routes not available")]
    size = scale.blob_bytes
    mib = size / MiB
    scratch = pool.workdir / "files-baseline.bin"
    digest, local_s = hash_and_write(size, scratch)
    relay.reset_peak_memory()
    before_kib = relay.memory_kib("VmRSS")
    up = mib / await upload(relay, digest, size)
    down = mib / await download(relay, digest, size)
    growth_mib = (relay.memory_kib("VmHWM") - before_kib) / 1024
    # The baseline runs before and after the transfers and keeps its faster time, so a cold
    # start or a busy moment does not flatter the relay.
    local = mib / min(local_s, hash_and_write(size, scratch)[1])
    label = f"{mib / 1024:g} GiB" if mib >= 1024 else f"{mib:g} MiB"
    rows = [
        Row(
            figure=FIGURE,
            case=f"{direction} {label}",
            value=speed,
            unit="MiB/s",
            baseline=local,
            baseline_name="hash+write",
            ratio=speed / local,
            target=f">= {SPEED_TARGET:g}x",
            passed=speed / local >= SPEED_TARGET,
        )
        for direction, speed in (("upload", up), ("download", down))
    ]
    rows.append(
        Row(
            figure=FIGURE,
            case="relay peak RSS growth",
            value=growth_mib,
            unit="MiB",
            target=f"< {RSS_TARGET_MIB} MiB",
            passed=growth_mib < RSS_TARGET_MIB,
            details={"rss_before_mib": round(before_kib / 1024, 1)},
        )
    )
    return rows

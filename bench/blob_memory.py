"""Benchmark: a 200 MiB file through a real relay, and how much memory the relay needs for it.

Run from the repository root::

    uv run python -m bench.blob_memory [--size-mib 200]

It starts ``agent-relay-server serve`` on a free loopback port with a temporary data directory,
warms it up, resets the relay process's peak-RSS counter (``/proc/<pid>/clear_refs``), then
uploads the file with a streamed ``PUT /blobs/{sha256}`` and downloads it with a streamed
``GET``, checking the copy is byte-identical. It reports throughput against a baseline (copying
and hashing the same file locally) and the relay's peak RSS growth against the 64 MiB target,
from ``VmHWM`` and from sampling ``VmRSS`` every 5 ms. Exit status 1 when the copy differs or the
growth misses the target. It also times ``/healthz`` during the transfers, to show the event loop
stays free while the disk works. Linux only (it reads ``/proc``). Not a timed test.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.processes import start_relay_process

MiB = 1024 * 1024
TARGET_GROWTH_BYTES = 64 * MiB
TOKEN = "bench-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def proc_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class RssSampler(threading.Thread):
    """Samples a process's VmRSS until stopped and keeps the largest value (KiB)."""

    def __init__(self, pid: int, interval_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak_kib = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kib = max(self.peak_kib, proc_kib(self.pid, "VmRSS"))
            self._done.wait(self.interval_s)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kib


class HealthProbe(threading.Thread):
    """Times ``GET /healthz`` over and over: a blocked event loop shows up as a slow answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.worst_s = 0.0
        self.count = 0
        self._done = threading.Event()

    def run(self) -> None:
        with requests.Session() as http:
            while not self._done.is_set():
                started = time.perf_counter()
                http.get(self.url, timeout=10).raise_for_status()
                self.worst_s = max(self.worst_s, time.perf_counter() - started)
                self.count += 1
                self._done.wait(0.01)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.worst_s


def make_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; returns their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(MiB, left))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def baseline_mib_s(source: Path, scratch: Path) -> float:
    """Local copy-and-hash throughput of the same file: what the relay's disk and CPU allow."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    with source.open("rb") as src, scratch.open("wb") as dst:
        while chunk := src.read(MiB):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    scratch.unlink()
    return source.stat().st_size / MiB / elapsed


def upload(url: str, headers: dict[str, str], path: Path) -> requests.Response:
    with path.open("rb") as body:  # requests streams a file object, with its Content-Length
        answer = requests.put(url, data=body, headers=headers, timeout=600)
    answer.raise_for_status()
    return answer


def download(url: str, headers: dict[str, str], path: Path) -> str:
    digest = hashlib.sha256()
    with requests.get(url, headers=headers, stream=True, timeout=600) as answer:
        answer.raise_for_status()
        with path.open("wb") as out:
            for chunk in answer.iter_content(MiB):
                digest.update(chunk)
                out.write(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=200, help="file size (default 200)")
    args = parser.parse_args()
    size = args.size_mib * MiB

    with tempfile.TemporaryDirectory(prefix="blob-bench-", dir=Path.cwd()) as scratch:
        work = Path(scratch)
        source, fetched = work / "source.bin", work / "fetched.bin"
        sha256 = make_file(source, size)
        base = baseline_mib_s(source, work / "baseline.bin")

        port = free_port()
        relay = start_relay_process(work / "data", port, work / "relay.log", TOKEN)
        try:
            url = f"http://127.0.0.1:{port}/blobs/{sha256}"
            headers = {"Authorization": f"Bearer {TOKEN}", "X-Client-Id": "bench"}

            # Warm up: the first request of each kind imports and allocates what it needs.
            warm = os.urandom(2 * MiB)
            warm_url = f"http://127.0.0.1:{port}/blobs/{hashlib.sha256(warm).hexdigest()}"
            requests.put(warm_url, data=warm, headers=headers, timeout=30).raise_for_status()
            requests.get(warm_url, headers=headers, timeout=30).raise_for_status()

            Path(f"/proc/{relay.pid}/clear_refs").write_text("5")  # reset VmHWM
            before_kib = proc_kib(relay.pid, "VmRSS")
            sampler = RssSampler(relay.pid)
            sampler.start()
            probe = HealthProbe(f"http://127.0.0.1:{port}/healthz")
            probe.start()

            started = time.perf_counter()
            stored = upload(url, headers, source)
            up_s = time.perf_counter() - started
            started = time.perf_counter()
            got = download(url, headers, fetched)
            down_s = time.perf_counter() - started

            worst_health_s = probe.stop()
            sampled_kib = sampler.stop()
            hwm_kib = proc_kib(relay.pid, "VmHWM")
        finally:
            relay.send_signal(signal.SIGTERM)
            try:
                relay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                relay.kill()

        identical = stored.json()["sha256"] == sha256 == got and filecmp.cmp(
            source, fetched, shallow=False
        )
        growth = max(hwm_kib, sampled_kib) - before_kib
        up_rate, down_rate = args.size_mib / up_s, args.size_mib / down_s
        print(f"file                    {args.size_mib} MiB, sha256 {sha256[:16]}...")
        print(f"byte-identical          {'yes' if identical else 'NO'}")
        print(f"baseline (copy + hash)  {base:8.0f} MiB/s")
        print(f"upload   (PUT)          {up_rate:8.0f} MiB/s  ({up_rate / base:.2f}x baseline)")
        print(f"download (GET)          {down_rate:8.0f} MiB/s  ({down_rate / base:.2f}x baseline)")
        print(f"relay RSS before        {before_kib / 1024:8.1f} MiB")
        print(
            f"relay peak RSS growth   {growth / 1024:8.1f} MiB  "
            f"(VmHWM {hwm_kib / 1024:.1f}, sampled {sampled_kib / 1024:.1f}; "
            f"{growth * 1024 / TARGET_GROWTH_BYTES:.2f}x the 64 MiB target)"
        )
        print(
            f"slowest /healthz        {worst_health_s * 1000:8.1f} ms during the transfers "
            f"({probe.count} probes): the event loop stayed free"
        )
        shutil.rmtree(work / "data", ignore_errors=True)
        ok = identical and growth * 1024 < TARGET_GROWTH_BYTES
        print("OK" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Soak run: many clients mixing every kind of call against one real relay for minutes on end.

Run from the repository root (not part of CI; the defaults take ten minutes)::

    uv run python -m bench.soak [--minutes 10] [--clients 64] [--json results.json]

It starts ``agent-relay-server serve`` on a free 127.0.0.1 port with a temporary data directory,
puts the clients into sessions of eight, and lets each one loop until the time is up: sends,
page reads, long-poll waits (1 s), small uploads attached to a message, and downloads of files
attached in its session. One client in eight talks MCP (fastmcp's client over streamable HTTP,
reconnecting every few hundred calls, so MCP sessions come and go); the others use the HTTP API.

At the end every acknowledged send is read back (``lost``: acknowledged but missing or changed),
every attached file is fetched and hashed, and ``agent-relay-server check`` runs against the live
data directory. The relay's resident memory (``VmRSS`` in ``/proc/<pid>/status``) is sampled
every few seconds; the report gives it at start, after warm-up, at the end, its peak, and the
slope after warm-up. Exit status 1 when there were errors, lost messages, bad files or problems
found by ``check``. Linux only (it reads ``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.types import TextContent

from bench.processes import start_relay_process
from relay_core.toon import decode_messages

TOKEN = "soak-token-0123456789abcdef"
GROUP_SIZE = 8
"""Clients per session."""
WAIT_S = 1.0
"""Long-poll length of one wait call."""
MCP_RECONNECT_CALLS = 300
"""An MCP client opens a fresh connection after this many calls."""
REQUEST_TIMEOUT_S = 30.0
RSS_INTERVAL_S = 5.0
WEIGHTS = {"send": 40, "read": 25, "wait": 15, "upload": 10, "download": 10}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """The process's resident memory in KiB: ``VmRSS`` and its parts (anonymous, file, shared)."""
    fields = {"VmRSS", "RssAnon", "RssFile", "RssShmem"}
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            found[name] = int(value.split()[0])
    return found


def rss_kib(pid: int) -> int:
    """The process's resident set size (``VmRSS``) in KiB."""
    return memory_kib(pid)["VmRSS"]


@dataclass
class Tally:
    """What all clients did, shared between their threads."""

    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    sent: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Acknowledged message id -> (session, text)."""
    files: dict[str, str] = field(default_factory=dict)
    """Attached file digest -> session it was attached in."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, kind: str) -> None:
        with self.lock:
            self.calls[kind] += 1

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors[f"{kind}: {what}"] += 1

    def acknowledged(self, message_id: int, session: str, text: str) -> None:
        with self.lock:
            if message_id in self.sent:
                self.errors[f"send: id {message_id} acknowledged twice"] += 1
            self.sent[message_id] = (session, text)

    def attached(self, sha256: str, session: str) -> None:
        with self.lock:
            self.files[sha256] = session

    def files_in(self, session: str) -> list[str]:
        with self.lock:
            return [sha for sha, where in self.files.items() if where == session]


@dataclass
class Soak:
    """One soak run's shared settings."""

    base_url: str
    deadline: float
    tally: Tally
    max_file_bytes: int

    def headers(self, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}", "X-Client-Id": client_id}


def reason(exc: BaseException) -> str:
    """The innermost cause of a client-side failure, short: ``RemoteDisconnected: ...``."""
    while True:
        inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        inner = inner or getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            return f"{type(exc).__name__}: {str(exc)[:70]}"
        exc = inner


def random_file(rng: random.Random, max_bytes: int) -> bytes:
    """Random bytes of a random small size (a tenth of uploads repeat the same few files)."""
    if rng.random() < 0.1:
        return bytes([rng.randrange(4)]) * 1024
    return rng.randbytes(rng.randint(1, max_bytes))


class HttpClient(threading.Thread):
    """One client of the HTTP API looping over the mix until the deadline."""

    def __init__(self, soak: Soak, client_id: str, session: str, seed: int) -> None:
        super().__init__(name=client_id, daemon=True)
        self.soak, self.client_id, self.session = soak, client_id, session
        self.rng = random.Random(seed)
        self.cursor = 0
        self.wait_after = 0
        self.seq = 0

    def run(self) -> None:
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        with requests.Session() as http:
            http.headers.update(self.soak.headers(self.client_id))
            while time.monotonic() < self.soak.deadline:
                kind = self.rng.choices(kinds, weights)[0]
                self.soak.tally.call(kind)
                try:
                    getattr(self, kind)(http)
                except requests.RequestException as exc:
                    self.soak.tally.error(kind, reason(exc))

    def _check(self, kind: str, answer: requests.Response, *ok: int) -> bool:
        if answer.status_code in ok:
            return True
        try:
            code = answer.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "no error body"
        self.soak.tally.error(kind, f"HTTP {answer.status_code} {code}")
        return False

    def _messages_url(self) -> str:
        return f"{self.soak.base_url}/api/v1/sessions/{self.session}/messages"

    def send(self, http: requests.Session, attachments: list[dict[str, str]] | None = None) -> bool:
        self.seq += 1
        text = f"{self.client_id} #{self.seq} {self.rng.getrandbits(64):x}"
        body: dict[str, Any] = {"text": text, "attachments": attachments or []}
        answer = http.post(self._messages_url(), json=body, timeout=REQUEST_TIMEOUT_S)
        if not self._check("send", answer, 201):
            return False
        self.soak.tally.acknowledged(answer.json()["id"], self.session, text)
        return True

    def read(self, http: requests.Session) -> None:
        answer = http.get(
            self._messages_url(),
            params={"after": self.cursor, "limit": 100},
            timeout=REQUEST_TIMEOUT_S,
        )
        if self._check("read", answer, 200):
            self.cursor = answer.json()["next_after_id"] or self.cursor

    def wait(self, http: requests.Session) -> None:
        answer = http.get(
            f"{self.soak.base_url}/api/v1/wait",
            params={"after": self.wait_after, "timeout": WAIT_S, "limit": 50},
            timeout=REQUEST_TIMEOUT_S,
        )
        if self._check("wait", answer, 200):
            self.wait_after = answer.json()["next_after_id"] or self.wait_after

    def upload(self, http: requests.Session) -> None:
        data = random_file(self.rng, self.soak.max_file_bytes)
        sha256 = hashlib.sha256(data).hexdigest()
        answer = http.put(
            f"{self.soak.base_url}/blobs/{sha256}", data=data, timeout=REQUEST_TIMEOUT_S
        )
        if self._check("upload", answer, 200, 201) and self.send(
            http, [{"sha256": sha256, "filename": f"{sha256[:8]}.bin"}]
        ):
            self.soak.tally.attached(sha256, self.session)

    def download(self, http: requests.Session) -> None:
        files = self.soak.tally.files_in(self.session)
        if not files:
            return
        sha256 = self.rng.choice(files)
        answer = http.get(f"{self.soak.base_url}/blobs/{sha256}", timeout=REQUEST_TIMEOUT_S)
        if self._check("download", answer, 200) and (
            hashlib.sha256(answer.content).hexdigest() != sha256
        ):
            self.soak.tally.error("download", "bytes differ from their digest")


class McpClient(threading.Thread):
    """One client of the MCP tools, with its own event loop, reconnecting now and then."""

    def __init__(self, soak: Soak, client_id: str, session: str, seed: int) -> None:
        super().__init__(name=client_id, daemon=True)
        self.soak, self.client_id, self.session = soak, client_id, session
        self.rng = random.Random(seed)
        self.cursor = 0
        self.seq = 0

    def run(self) -> None:
        asyncio.run(self._run())

    def _client(self) -> Client[Any]:
        transport = StreamableHttpTransport(
            self.soak.base_url + "/mcp", headers={"X-Client-Id": self.client_id}, auth=TOKEN
        )
        return Client(transport, timeout=REQUEST_TIMEOUT_S)

    async def _run(self) -> None:
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        while time.monotonic() < self.soak.deadline:
            try:
                async with self._client() as client:
                    self.soak.tally.call("mcp-connect")
                    for _ in range(MCP_RECONNECT_CALLS):
                        if time.monotonic() >= self.soak.deadline:
                            return
                        kind = self.rng.choices(kinds, weights)[0]
                        self.soak.tally.call(kind)
                        await getattr(self, kind)(client)
            except Exception as exc:  # a broken connection: count it and connect again
                self.soak.tally.error("mcp", reason(exc))

    async def _tool(self, client: Client[Any], kind: str, tool: str, **arguments: Any) -> Any:
        result = await client.call_tool(tool, arguments, raise_on_error=False)
        if result.is_error:
            first = result.content[0]
            said = first.text if isinstance(first, TextContent) else type(first).__name__
            self.soak.tally.error(kind, "tool error " + said.split(":", 1)[0])
            return None
        return result

    async def send(
        self, client: Client[Any], attachments: list[dict[str, str]] | None = None
    ) -> bool:
        self.seq += 1
        text = f"{self.client_id} #{self.seq} {self.rng.getrandbits(64):x}"
        result = await self._tool(
            client,
            "send",
            "send_message",
            session=self.session,
            text=text,
            attachments=attachments or [],
        )
        if result is None:
            return False
        self.soak.tally.acknowledged(result.structured_content["id"], self.session, text)
        return True

    async def read(self, client: Client[Any]) -> None:
        result = await self._tool(
            client, "read", "read_messages", session=self.session, after_id=self.cursor, limit=100
        )
        if result is not None:
            messages = decode_messages(result.content[0].text)
            if messages:
                self.cursor = messages[-1].id

    async def wait(self, client: Client[Any]) -> None:
        await self._tool(
            client, "wait", "wait_for_messages", session=self.session, timeout_s=WAIT_S
        )

    async def upload(self, client: Client[Any]) -> None:
        data = random_file(self.rng, self.soak.max_file_bytes)
        result = await self._tool(
            client,
            "upload",
            "upload_file",
            filename="soak.bin",
            content_base64=base64.b64encode(data).decode(),
        )
        if result is None:
            return
        sha256 = result.structured_content["sha256"]
        if await self.send(client, [{"sha256": sha256, "filename": "soak.bin"}]):
            self.soak.tally.attached(sha256, self.session)

    async def download(self, client: Client[Any]) -> None:
        files = self.soak.tally.files_in(self.session)
        if not files:
            return
        sha256 = self.rng.choice(files)
        result = await self._tool(client, "download", "download_file", sha256=sha256)
        if result is not None:
            data = base64.b64decode(result.structured_content["content_base64"])
            if hashlib.sha256(data).hexdigest() != sha256:
                self.soak.tally.error("download", "bytes differ from their digest")


class RssMonitor(threading.Thread):
    """Samples the relay's VmRSS every few seconds until stopped."""

    def __init__(self, pid: int, started: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.started = pid, started
        self.samples: list[tuple[float, int]] = []
        self.parts: list[dict[str, int]] = []
        """``memory_kib`` at each sample."""
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self._sample()
            self._done.wait(RSS_INTERVAL_S)

    def _sample(self) -> None:
        memory = memory_kib(self.pid)
        self.samples.append((time.monotonic() - self.started, memory["VmRSS"]))
        self.parts.append(memory)

    def stop(self) -> list[tuple[float, int]]:
        self._done.set()
        self.join()
        self._sample()
        return self.samples


def slope_kib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_r = sum(r for _, r in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (r - mean_r) for t, r in samples)
    return cov / var * 60 if var else 0.0


def read_back(base_url: str, sessions: dict[str, str]) -> dict[int, tuple[str, str]]:
    """Every message of every session, read as one of its members: id -> (session, text)."""
    stored: dict[int, tuple[str, str]] = {}
    with requests.Session() as http:
        for session, member in sessions.items():
            http.headers.update({"Authorization": f"Bearer {TOKEN}", "X-Client-Id": member})
            after = 0
            while True:
                answer = http.get(
                    f"{base_url}/api/v1/sessions/{session}/messages",
                    params={"after": after, "limit": 500},
                    timeout=REQUEST_TIMEOUT_S,
                )
                answer.raise_for_status()
                page = answer.json()
                for message in page["messages"]:
                    if message["id"] in stored:
                        raise SystemExit(f"message id {message['id']} read twice")
                    stored[message["id"]] = (session, message["text"])
                after = page["next_after_id"]
                if not page["has_more"]:
                    break
    return stored


def verify_files(base_url: str, files: dict[str, str], sessions: dict[str, str]) -> int:
    """Fetch every attached file as a member of its session; the number that are wrong."""
    bad = 0
    with requests.Session() as http:
        for sha256, session in files.items():
            headers = {"Authorization": f"Bearer {TOKEN}", "X-Client-Id": sessions[session]}
            answer = http.get(f"{base_url}/blobs/{sha256}", headers=headers, timeout=60)
            if answer.status_code != 200 or hashlib.sha256(answer.content).hexdigest() != sha256:
                bad += 1
    return bad


def run_check(data_dir: Path) -> tuple[int, str]:
    """``agent-relay-server check`` against the live data directory."""
    done = subprocess.run(
        [sys.executable, "-m", "relay_server", "check", "--data-dir", str(data_dir)],
        env={k: v for k, v in os.environ.items() if not k.startswith("RELAY_")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def setup_sessions(base_url: str, clients: list[str]) -> dict[str, list[str]]:
    """Sessions of ``GROUP_SIZE`` clients each, created by their first member."""
    groups: dict[str, list[str]] = {}
    for start in range(0, len(clients), GROUP_SIZE):
        members = clients[start : start + GROUP_SIZE]
        name = f"soak-{start // GROUP_SIZE:02d}"
        answer = requests.post(
            f"{base_url}/api/v1/sessions",
            headers={"Authorization": f"Bearer {TOKEN}", "X-Client-Id": members[0]},
            json={"name": name, "participants": members[1:]},
            timeout=REQUEST_TIMEOUT_S,
        )
        answer.raise_for_status()
        groups[name] = members
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--clients", type=int, default=64, help="how many clients (default 64)")
    parser.add_argument(
        "--max-file-kib", type=int, default=32, help="largest upload in KiB (default 32)"
    )
    parser.add_argument("--seed", type=int, default=9, help="random seed (default 9)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--relay-log", type=Path, help="keep the relay's log in this file")
    args = parser.parse_args()
    if args.clients < 1 or args.minutes <= 0:
        parser.error("--clients and --minutes must be positive")
    duration_s = args.minutes * 60
    warmup_s = min(60.0, duration_s / 10)

    with tempfile.TemporaryDirectory(prefix="relay-soak-") as scratch:
        work = Path(scratch)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        relay = start_relay_process(work / "data", port, work / "relay.log", TOKEN)
        try:
            clients = [f"soak-{n:03d}" for n in range(args.clients)]
            groups = setup_sessions(base_url, clients)
            session_of = {c: name for name, members in groups.items() for c in members}
            started = time.monotonic()
            soak = Soak(base_url, started + duration_s, Tally(), args.max_file_kib * 1024)
            monitor = RssMonitor(relay.pid, started)
            monitor.start()
            threads: list[threading.Thread] = []
            for n, client_id in enumerate(clients):
                kind = McpClient if n % GROUP_SIZE == GROUP_SIZE - 1 else HttpClient
                threads.append(kind(soak, client_id, session_of[client_id], args.seed * 1000 + n))
            for thread in threads:
                thread.start()
            print(
                f"soak: {args.clients} clients for {args.minutes:g} min against {base_url} "
                f"(relay pid {relay.pid})",
                flush=True,
            )
            for thread in threads:
                thread.join(timeout=max(0.0, soak.deadline - time.monotonic()) + 120)
            stuck = [t.name for t in threads if t.is_alive()]
            elapsed_s = time.monotonic() - started
            samples = monitor.stop()
            if relay.poll() is not None:
                log = (work / "relay.log").read_text(errors="replace")
                raise SystemExit(f"the relay died during the soak:\n{log}")

            readers = {name: members[0] for name, members in groups.items()}
            stored = read_back(base_url, readers)
            tally = soak.tally
            lost = sorted(i for i, sent in tally.sent.items() if stored.get(i) != sent)
            bad_files = verify_files(base_url, tally.files, readers)
            check_status, check_output = run_check(work / "data")
            files_kib = {
                name: (work / "data" / name).stat().st_size // 1024
                for name in ("relay.sqlite3", "relay.sqlite3-wal")
                if (work / "data" / name).exists()
            }
        finally:
            relay.terminate()
            relay.wait(timeout=30)
            relay_log = (work / "relay.log").read_text(errors="replace")
            if args.relay_log:
                args.relay_log.write_text(relay_log)

    after_warmup = [s for s in samples if s[0] >= warmup_s] or samples[-1:]
    results = {
        "clients": args.clients,
        "minutes": round(elapsed_s / 60, 2),
        "calls": sum(v for k, v in tally.calls.items() if k != "mcp-connect"),
        "calls_by_kind": dict(sorted(tally.calls.items())),
        "calls_per_s": round(sum(tally.calls.values()) / elapsed_s, 1),
        "errors": sum(tally.errors.values()),
        "errors_by_kind": dict(tally.errors.most_common()),
        "acknowledged": len(tally.sent),
        "stored": len(stored),
        "lost": len(lost),
        "files": len(tally.files),
        "bad_files": bad_files,
        "stuck_clients": stuck,
        "check_status": check_status,
        "check_output": check_output.splitlines()[-5:],
        "relay_log_errors": relay_log.count(" ERROR "),
        "rss_kib": {
            "start": samples[0][1],
            "after_warmup": after_warmup[0][1],
            "end": samples[-1][1],
            "peak": max(r for _, r in samples),
            "slope_after_warmup_kib_per_min": round(slope_kib_per_min(after_warmup), 1),
            "parts_start": monitor.parts[0],
            "parts_end": monitor.parts[-1],
        },
        "database_files_kib": files_kib,
        "rss_samples": [(round(t, 1), r) for t, r in samples],
    }
    report = {k: v for k, v in results.items() if k != "rss_samples"}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    failed = results["errors"] or lost or bad_files or stuck or check_status
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The real, pinned Claude Code negotiates the MCP era that carries channel push with the relay.

Claude Code 2.1.330 registers channel notifications only on a handshake-era connection (the
``initialize`` handshake, then the standalone GET stream); it asks for 2026-07-28 first. Its
``--debug-file`` log names what it negotiated, and the relay's access log shows the GET stream
(written when the stream closes) and the refused 2026-07-28 probe. A recording forwarder also
holds the bench's "connect as Claude Code" requests to what the binary sends. Claude Code runs
with HOME in a temp dir and talks only to relays (and a forwarder) the tests start on loopback.
"""

import contextlib
import importlib.util
import itertools
import json
import socket
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.node

SERVER = "plugin:agent-relay:agent-relay"
ROOT = Path(__file__).resolve().parents[2]


def negotiated(debug_file: Path) -> dict[str, object]:
    """What Claude Code logged as the relay connection's capabilities, era included."""
    marker = f'MCP server "{SERVER}": Connection established with capabilities: '
    [line] = [line for line in debug_file.read_text().splitlines() if marker in line]
    return json.loads(line.split(marker, 1)[1])


def list_servers(claude, workdir: Path, tmp_path: Path) -> Path:
    debug_file = tmp_path / "claude-debug.txt"
    listed = claude("--debug-file", str(debug_file), "mcp", "list", cwd=workdir)
    [line] = [line for line in listed.stdout.splitlines() if line.startswith(f"{SERVER}:")]
    assert "✔ Connected" in line, listed.stdout + listed.stderr
    return debug_file


def test_claude_code_negotiates_the_handshake_era_and_opens_the_get_stream(
    claude, install, relay, tmp_path
):
    workdir = install(relay.url, "era-probe", relay.token)
    debug_file = list_servers(claude, workdir, tmp_path)

    capabilities = negotiated(debug_file)
    assert capabilities["protocolEra"] == "legacy"
    assert capabilities["negotiatedProtocolVersion"] == "2025-11-25"
    # It asked for 2026-07-28 first and was refused, then held the stream push rides on.
    assert relay.access_line(r'via=mcp client=era-probe op="POST /mcp" .*outcome=400')
    assert relay.access_line(r'via=mcp client=era-probe op="GET /mcp" .*outcome=200')


def test_claude_code_connects_on_the_handshake_era_when_offered_the_permission_relay(
    claude, install, relay, tmp_path
):
    """A client with approvers is offered ``claude/channel/permission`` at initialize; the real
    Claude Code still connects on the era that carries channels. (The relayed prompt itself
    needs an interactive session with channels on for the account: not here.)"""
    import requests

    for client_id in ("perm-approver", "perm-probe"):
        requests.get(f"{relay.url}/api/v1/settings", headers=relay.headers(client_id), timeout=10)
    set_ = requests.put(
        f"{relay.url}/api/v1/settings",
        headers=relay.headers("perm-probe"),
        json={"approvers": ["perm-approver"]},
        timeout=10,
    )
    assert set_.status_code == 200, set_.text
    workdir = install(relay.url, "perm-probe", relay.token)
    capabilities = negotiated(list_servers(claude, workdir, tmp_path))
    assert capabilities["protocolEra"] == "legacy"
    assert relay.access_line(r'via=mcp client=perm-probe op="GET /mcp" .*outcome=200')


def test_with_all_revisions_claude_code_goes_modern_and_opens_no_stream(
    claude, install, start_relay, tmp_path
):
    relay = start_relay(mcp_revisions="all")
    workdir = install(relay.url, "era-modern", relay.token)
    debug_file = list_servers(claude, workdir, tmp_path)

    capabilities = negotiated(debug_file)
    assert capabilities["protocolEra"] == "modern"
    assert capabilities["negotiatedProtocolVersion"] == "2026-07-28"
    # Modern requests are stateless POSTs; the 2026-07-28 era has no GET stream to open.
    assert 'op="GET /mcp"' not in relay.log()


class Recorder:
    """A loopback TCP forwarder to the relay that keeps what the client sent, request by request.

    Requests are numbered in the order their first bytes arrived, across connections.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sequence = itertools.count()
        self.connections: list[list[tuple[int, bytes]]] = []
        self.sockets: list[socket.socket] = [self.listener]
        self.threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            chunks: list[tuple[int, bytes]] = []
            with self.lock:
                self.sockets += [client, upstream]
                self.connections.append(chunks)
            self._start(self._pump, client, upstream, chunks)
            self._start(self._pump, upstream, client, None)

    def _pump(self, source, target, chunks) -> None:
        try:
            while data := source.recv(1 << 16):
                if chunks is not None:
                    with self.lock:
                        chunks.append((next(self.sequence), data))
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """Stop forwarding: shut every socket down (which wakes the threads) and wait for them."""
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def requests(self) -> list[tuple[str, dict[str, str], bytes]]:
        """Every request sent so far, in order: method, headers (lower-case names), body."""
        found: list[tuple[int, str, dict[str, str], bytes]] = []
        with self.lock:
            connections = [list(chunks) for chunks in self.connections]
        for chunks in connections:
            data = b"".join(chunk for _, chunk in chunks)
            starts = list(itertools.accumulate(len(chunk) for _, chunk in chunks))
            offset = 0
            while (end := data.find(b"\r\n\r\n", offset)) >= 0:
                line, *fields = data[offset:end].decode("latin-1").split("\r\n")
                pairs = (field.split(":", 1) for field in fields)
                headers = {name.strip().lower(): value.strip() for name, value in pairs}
                length = int(headers.get("content-length", "0"))
                body = data[end + 4 : end + 4 + length]
                order = chunks[next(i for i, s in enumerate(starts) if s > offset)][0]
                found.append((order, line.split(" ")[0], headers, body))
                offset = end + 4 + length
        return [(method, headers, body) for _, method, headers, body in sorted(found)]


def load_bench_wire():
    spec = importlib.util.spec_from_file_location("bench_wire", ROOT / "bench" / "wire.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_what_claude_code_sends_is_what_the_bench_and_the_push_tests_send(
    claude, install, relay, tmp_path
):
    """bench/wire.py (and tests/server/test_push.py, which uses the same values) connect "as
    Claude Code does": this holds them to what the pinned binary really sends."""
    wire = load_bench_wire()
    recorder = Recorder(relay.port)
    try:
        workdir = install(f"http://127.0.0.1:{recorder.port}", "era-recorded", relay.token)
        list_servers(claude, workdir, tmp_path)
    finally:
        recorder.close()
    sent = [
        (method, headers, json.loads(body) if body else None)
        for method, headers, body in recorder.requests()
    ]
    probe, init, initialized, stream = sent[:4]

    assert probe[2]["method"] == "server/discover"
    assert probe[1]["mcp-protocol-version"] == wire.MODERN_PROTOCOL_VERSION
    assert probe[2]["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] == dict(
        wire.CLAUDE_CODE_CAPABILITIES
    )
    assert init[2]["method"] == "initialize"
    assert "mcp-protocol-version" not in init[1]
    assert init[2]["params"]["protocolVersion"] == wire.MCP_PROTOCOL_VERSION
    assert init[2]["params"]["capabilities"] == dict(wire.CLAUDE_CODE_CAPABILITIES)
    assert initialized[2] == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert initialized[1]["mcp-protocol-version"] == wire.MCP_PROTOCOL_VERSION
    assert stream[0] == "GET"
    assert stream[1]["accept"] == "text/event-stream"
    assert stream[1]["mcp-session-id"] == initialized[1]["mcp-session-id"]

"""Fixtures for the client's tests: a data root of its own, a configured machine, a CLI runner.

No test here reaches a network: HTTP is answered by ``responses`` (which refuses any request it
was not told about), and the relay URL is a loopback address all the same. ``agent-relay send``
to an ``http://`` relay does not use requests (relay_client/transport.py), so its tests talk to
:class:`LoopbackRelay`, a real HTTP server on 127.0.0.1 with canned answers.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

import relay_client.api.connection as api_connection
from relay_client import ClientConfig, DataPaths
from relay_client.cli import cli
from relay_core import (
    Health,
    Message,
    MessagePage,
    Participant,
    Peer,
    SentMessage,
    SessionDetail,
    SessionSummary,
    Status,
    StatusCounts,
    StatusLimits,
    WhoAmI,
)

RELAY = "http://127.0.0.1:7878"
TOKEN = "s3cret-token-value"
ME = "alice-laptop"


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch):
    """Retries happen at once: tests never sleep."""
    monkeypatch.setattr(api_connection, "RETRY_BACKOFF_S", 0.0)


@pytest.fixture
def data_paths(tmp_path, monkeypatch) -> DataPaths:
    """An empty data root, the one every client object and command uses in this test."""
    monkeypatch.setenv("CLAUDE_USER_DATA", str(tmp_path / "claude-data"))
    # No Claude Code unless a test asks for the fake one: never the machine's own `claude`.
    monkeypatch.setenv("AGENT_RELAY_CLAUDE", str(tmp_path / "no-such-claude"))
    return DataPaths(tmp_path / "claude-data" / "agent-relay")


@pytest.fixture
def configured(data_paths) -> ClientConfig:
    """A machine that has been onboarded against the loopback relay."""
    config = ClientConfig(relay_url=RELAY, client_id=ME, token=TOKEN)
    config.save(data_paths.config)
    return config


@pytest.fixture
def relay_http() -> Iterator[responses.RequestsMock]:
    """Canned relay answers; a request nobody set up fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@dataclass
class Answer:
    """A canned answer of :class:`LoopbackRelay`."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Call:
    """A request :class:`LoopbackRelay` received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class LoopbackRelay:
    """A real HTTP server on a free 127.0.0.1 port that answers what a test set up.

    Answers queue per (method, path); the last one of a queue repeats. A request nobody set up
    is answered 501 and listed in ``unexpected`` (the fixture fails the test on it), unless a
    ``default`` answer is set.
    """

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = {}
        self.calls: list[Call] = []
        self.unexpected: list[Call] = []
        self.default: Answer | None = None
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                call = Call(self.command, self.path, dict(self.headers), self.rfile.read(length))
                relay.calls.append(call)
                answer = relay.next_answer(call)
                time.sleep(answer.delay_s)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_one

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(
        self,
        method: str,
        path: str,
        status: int = 200,
        json_body: Any = None,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next ``method path`` with ``status`` and a JSON (or raw) body."""
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        self.answers.setdefault((method, path), []).append(Answer(status, body, headers, delay_s))

    def answer_all(self, status: int, json_body: Any) -> None:
        """Answer every request nobody set up with ``status`` and this JSON body."""
        body = json.dumps(json_body).encode()
        self.default = Answer(status, body, {"Content-Type": "application/json"})

    def next_answer(self, call: Call) -> Answer:
        queue = self.answers.get((call.method, call.path))
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        if self.default is not None:
            return self.default
        self.unexpected.append(call)
        return Answer(501, b"no canned answer")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def loopback_relay() -> Iterator[LoopbackRelay]:
    """A real HTTP server on 127.0.0.1 with canned answers; stopped at the end of the test."""
    relay = LoopbackRelay()
    yield relay
    relay.close()
    assert not relay.unexpected, f"requests nobody set up: {relay.unexpected}"


@pytest.fixture
def configured_loopback(data_paths, loopback_relay) -> ClientConfig:
    """A machine onboarded against :func:`loopback_relay`."""
    config = ClientConfig(relay_url=loopback_relay.url, client_id=ME, token=TOKEN)
    config.save(data_paths.config)
    return config


@pytest.fixture
def run(tmp_path, monkeypatch) -> Callable[..., Result]:
    """Run ``agent-relay ARGS`` in-process from a scratch working directory."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def write() -> Callable[[Path, str], Path]:
    """Write a (hand-edited) file, creating its directory."""

    def write_text(path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write_text


NOW = "2026-11-25T11:52:11.123Z"


class Payloads:
    """JSON answers of the relay, built from relay-core's models so they match the contract."""

    def health(self, version: str = "0.1.0") -> dict[str, Any]:
        return Health(status="ok", version=version, uptime_s=42.5).model_dump(mode="json")

    def whoami(self, client_id: str = ME, auth_mode: str = "shared") -> dict[str, Any]:
        return WhoAmI(
            client_id=client_id, auth_mode=auth_mode, first_seen=NOW, last_seen=NOW
        ).model_dump(mode="json")

    def message(self, id: int, sender: str = "bob-ws", **fields: Any) -> dict[str, Any]:
        values = {"session": "build-42", "text": f"message {id}", "created_at": NOW}
        values.update(fields)
        return Message(id=id, sender=sender, **values).model_dump(mode="json")

    def page(
        self, *ids: int, has_more: bool = False, timed_out: bool = False, after: int | None = None
    ) -> dict[str, Any]:
        messages = [self.message(i) for i in ids]
        next_after = ids[-1] if ids else after
        return MessagePage(
            messages=messages, next_after_id=next_after, has_more=has_more, timed_out=timed_out
        ).model_dump(mode="json")

    def session(self, name: str = "build-42", *members: str, **fields: Any) -> dict[str, Any]:
        participants = [
            Participant(client_id=m, joined_at=NOW, last_seen=None, last_read_id=0)
            for m in (ME, *members)
        ]
        values: dict[str, Any] = {
            "description": "",
            "created_by": ME,
            "created_at": NOW,
            "closed_at": None,
            "last_message_id": None,
            "unread": 0,
        }
        values.update(fields)
        return SessionDetail(name=name, participants=participants, **values).model_dump(mode="json")

    def summary(self, name: str = "build-42", **fields: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "description": "",
            "created_by": ME,
            "created_at": NOW,
            "closed_at": None,
            "participants": 2,
            "last_message_id": None,
            "unread": 0,
        }
        values.update(fields)
        return SessionSummary(name=name, **values).model_dump(mode="json")

    def sent(self, id: int, session: str = "build-42") -> dict[str, Any]:
        return SentMessage(id=id, session=session, created_at=NOW).model_dump(mode="json")

    def error(self, code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    def status(self, unread: int = 0) -> dict[str, Any]:
        return Status(
            version="0.1.0",
            uptime_s=7300,
            caller=ME,
            auth_mode="shared",
            counts=StatusCounts(clients=2, sessions=1, messages=5, blobs=1, blob_bytes=2048),
            limits=StatusLimits(
                max_text_bytes=65536,
                max_blob_bytes=2**32,
                blob_quota_bytes=2**36,
                inline_file_bytes=2**23,
                max_page_size=500,
                max_wait_s=300,
            ),
            unread=unread,
        ).model_dump(mode="json")

    def peer(self, client_id: str = "bob-ws", *sessions: str) -> dict[str, Any]:
        return Peer(
            client_id=client_id, first_seen=NOW, last_seen=NOW, shared_sessions=list(sessions)
        ).model_dump(mode="json")


@pytest.fixture
def payloads() -> Payloads:
    """Factories for the relay's JSON answers."""
    return Payloads()


FAKE_CLAUDE = '''#!{python}
"""A stand-in for Claude Code's `claude mcp` commands, answering as claude 2.1.330 does."""
import json, pathlib, sys
state = pathlib.Path(__file__).with_name("registered.json")
log = pathlib.Path(__file__).with_name("calls.log")
with log.open("a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
plugin = pathlib.Path(__file__).with_name("plugin.json")
if args[:2] == ["mcp", "get"]:
    name = args[2]
    entry = {{"agent-relay": state, "plugin:agent-relay:agent-relay": plugin}}.get(name)
    if entry is None or not entry.exists():
        print(f'No MCP server named "{{name}}". Run `claude mcp add` to add one.', file=sys.stderr)
        sys.exit(1)
    found = json.loads(entry.read_text())
    scope = "Dynamic config (from command line)" if entry == plugin else "User config"
    print(f"{{name}}:\\n  Scope: {{scope}}\\n  Status: ✔ Connected\\n  Type: http")
    print(f"  URL: {{found['url']}}\\n  Headers:\\n    Authorization: [REDACTED]")
    print(f"    X-Client-Id: {{found.get('client_id', 'x')}}")
elif args[:2] == ["mcp", "remove"]:
    if not state.exists():
        print('No MCP server named "agent-relay"', file=sys.stderr)
        sys.exit(1)
    state.unlink()
    print("Removed MCP server agent-relay from user config")
elif args[:2] == ["mcp", "add"]:
    if state.exists():
        print("MCP server agent-relay already exists in user config", file=sys.stderr)
        sys.exit(1)
    state.write_text(json.dumps({{"url": args[5], "args": args}}))
    print(f"Added HTTP MCP server agent-relay with URL: {{args[5]}} to user config")
else:
    sys.exit(2)
'''


class FakeClaude:
    """The fake ``claude`` command: where it is, what it was asked, what it registered."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "claude"
        self.path.write_text(FAKE_CLAUDE.format(python=sys.executable))
        self.path.chmod(0o755)

    @property
    def calls(self) -> list[list[str]]:
        log = self.path.with_name("calls.log")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def install_plugin(self, url: str, client_id: str) -> None:
        """As if the agent-relay plugin were installed and enabled with these options."""
        state = {"url": url, "client_id": client_id}
        self.path.with_name("plugin.json").write_text(json.dumps(state))

    @property
    def registered(self) -> dict[str, Any] | None:
        state = self.path.with_name("registered.json")
        return json.loads(state.read_text()) if state.exists() else None


@pytest.fixture
def fake_claude(tmp_path, monkeypatch) -> FakeClaude:
    """A fake ``claude`` that agent-relay finds through AGENT_RELAY_CLAUDE."""
    directory = tmp_path / "fake-claude"
    directory.mkdir()
    fake = FakeClaude(directory)
    monkeypatch.setenv("AGENT_RELAY_CLAUDE", str(fake.path))
    return fake


@pytest.fixture
def no_claude(tmp_path, monkeypatch) -> None:
    """No ``claude`` anywhere."""
    monkeypatch.setenv("AGENT_RELAY_CLAUDE", str(tmp_path / "no-such-claude"))

"""Shared fixtures: real relays on free loopback ports, and the rules for what a run may skip.

``relay`` is one relay (shared-token mode) per test module; tests keep out of each other's way
by using their own session names (the ``session_name`` fixture). ``start_relay`` starts relays
with any configuration for one test, and every relay started is stopped when the test ends.

A relay is served in-process by default: the same ``build_relay`` app and uvicorn settings as
``agent-relay-server serve``, run by uvicorn in a thread of the test process, over real HTTP on
127.0.0.1. Starting one costs milliseconds instead of a Python start-up. Where the test is about
the process itself (SIGKILL, a disk it holds open, the ``serve`` command), ask for a process:
``start_relay(process=True)``, or mark the module or test ``relay_process`` (which also turns
the module's ``relay`` into a process). Both kinds have the same API: ``url``, ``mcp_url``,
``headers()``, ``start()``, ``stop()``, ``log()``, ``data_dir``, ``port``, ``token``, ``env``,
``running``; ``kill()`` (SIGKILL) needs a process and says so otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import requests

TOKEN = "test-token-0123456789abcdef"
STARTUP_TIMEOUT_S = 60.0  # a process relay imports the web stack: slow on a loaded machine
STOP_TIMEOUT_S = 15.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # as `serve` logs


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the quick subset -------------------------------------------------------------------------

QUICK: Final = (
    "tests/core/",
    "tests/client/",
    "tests/test_layering.py",
    "tests/test_public_surface.py",
    "tests/server/test_config.py",
    "tests/server/test_http_api.py",
    "tests/server/test_mcp_tools.py",
    "tests/server/test_security.py",
    "tests/server/test_service.py",
)
"""What ``uv run pytest -m quick`` runs: the pure code, the client, and the relay's main routes
through in-process relays; no relay process, no Claude Code, no fault injection or fuzzing."""

_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Let the commands tests start be stopped with ^C, as from a terminal. A shell starts a
    background job (``cmd &`` without job control, as under nohup) with SIGINT ignored, and
    every process it starts inherits that, so ``agent-relay tail --follow`` could not be
    stopped and the tests that stop it failed. A handler, unlike "ignored", is not inherited."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m quick``, do not even import the other test modules (that alone takes seconds)."""
    if config.getoption("markexpr") != "quick" or collection_path.suffix != ".py":
        return None
    if collection_path.name == "conftest.py":
        return None
    where = collection_path.resolve().relative_to(_ROOT).as_posix()
    return None if where.startswith(QUICK) else True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.relative_to(_ROOT).as_posix()
        if where.startswith(QUICK):
            item.add_marker(pytest.mark.quick)


# --- what CI may not skip -----------------------------------------------------------------------


def in_ci() -> bool:
    """True under ``CI=true`` (set by .ci/run): a missing tool is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require_tool(available: bool, what: str) -> None:
    if available:
        return
    if in_ci():
        pytest.fail(f"CI must run this test, but {what}")
    pytest.skip(what)


RequireTool = Callable[[bool, str], None]


@pytest.fixture(scope="session")
def require_tool() -> RequireTool:
    """``require_tool(available, what)``: skip the test when a tool is missing here, and fail it
    instead under ``CI=true``.

    The CI machine must have every tool the suite uses (root for a tmpfs, node and npm,
    systemd-analyze), so a skip there would hide a test that never ran.
    """
    return _require_tool


# --- PostgreSQL -----------------------------------------------------------------------------------

POSTGRES_SERVER = os.environ.get("RELAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
"""The PostgreSQL the backend's tests use (CI's machine runs one there, trust auth)."""


@contextlib.contextmanager
def _postgres_schema(require_tool: RequireTool) -> Iterator[str]:
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=5)
    except Exception as error:  # no driver, or no server
        require_tool(False, f"PostgreSQL at {POSTGRES_SERVER} is not reachable: {error}")
        raise
    schema = f"relay_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture
def postgres_url(require_tool: RequireTool) -> Iterator[str]:
    """The URL of an empty schema of its own on the test PostgreSQL, dropped afterwards: the
    relay's tables go there (``search_path``), so tests never see each other's rows."""
    with _postgres_schema(require_tool) as url:
        yield url


@pytest.fixture(scope="module")
def relay_backend() -> str:
    """The backend of the module's shared ``relay``: SQLite here; tests/server/conftest.py
    runs the server's modules on every backend."""
    return "sqlite"


ALL_BACKENDS = ("sqlite", "postgresql")


def _backends() -> list[str]:
    """Every backend, or those ``PYTEST_RELAY_BACKENDS`` names (comma-separated): the mutation run
    of a target whose queries do not reach the database (the blob store) runs SQLite alone."""
    chosen = os.environ.get("PYTEST_RELAY_BACKENDS")
    if chosen is None:
        return list(ALL_BACKENDS)
    names = [name.strip() for name in chosen.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ALL_BACKENDS))
    if not names or unknown:
        raise pytest.UsageError(
            f"PYTEST_RELAY_BACKENDS={chosen!r}: name one or more of {', '.join(ALL_BACKENDS)}"
        )
    return names


BACKENDS = _backends()
"""The storage backends a test parametrised with ``database_url`` runs on."""


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh relay database goes, once per backend: a SQLite file in the test's temp
    dir, or an empty schema of the test PostgreSQL (see ``postgres_url``)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "relay.sqlite3")


def service_on(storage: Any, hub: Any = None) -> Any:
    """A ``RelayService`` over an opened ``storage`` (and ``hub``, a fresh ``EventHub`` by
    default), with the small file limits the service tests use."""
    from relay_server.events import EventHub
    from relay_server.service import RelayLimits, RelayService

    return RelayService(
        storage,
        hub or EventHub(),
        version="test",
        auth_mode="shared",
        limits=RelayLimits(max_blob_bytes=1024, blob_quota_bytes=4096, inline_file_bytes=512),
    )


@pytest.fixture
def team_service(database_url: str) -> Iterator[Any]:
    """A service on an empty store of each backend, with session ``team`` of alpha, bravo and
    carol (alpha created it)."""
    from relay_core import CreateSessionRequest
    from relay_server.storage import open_storage

    storage = open_storage(database_url)
    service = service_on(storage)
    request = CreateSessionRequest(name="team", participants=["bravo", "carol"])
    service.create_session("alpha", request)
    yield service
    service.stop()
    storage.close()


# --- relays ---------------------------------------------------------------------------------------

_serving: contextvars.ContextVar[str | None] = contextvars.ContextVar("serving", default=None)
"""Set in an in-process relay's thread: its event loop and worker threads inherit it, so log
records are told apart by relay (several relays may share the process)."""


class _OwnRecords(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.own = name

    def filter(self, record: logging.LogRecord) -> bool:
        return _serving.get() == self.own


class _RootLevel:
    """Lowers the root logger's level while relays run (as ``serve``'s basicConfig does)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.levels: dict[str, int] = {}
        self.original: int | None = None

    def hold(self, name: str, level: int) -> None:
        with self.lock:
            root = logging.getLogger()
            if not self.levels:
                self.original = root.level
            self.levels[name] = level
            root.setLevel(min(self.levels.values()))

    def release(self, name: str) -> None:
        with self.lock:
            if self.levels.pop(name, None) is None:
                return
            root = logging.getLogger()
            if self.levels:
                root.setLevel(min(self.levels.values()))
            elif self.original is not None:
                root.setLevel(self.original)


_root_level = _RootLevel()


WORKERS_STOP_S = 2.0
"""How long a stopped in-process relay's worker threads may take to end."""


class _ServedInThread:
    """One run of a relay app under uvicorn in a daemon thread of this process."""

    def __init__(self, settings: dict[str, str], data_dir: Path, port: int, log_path: Path):
        self.settings = settings
        self.data_dir = data_dir
        self.port = port
        self.log_path = log_path
        self.name = f"relay-{port}-{time.monotonic_ns()}"
        self.server: object | None = None
        self.relay: Any = None  # relay_server.app.Relay once built
        self.thread: threading.Thread | None = None
        self._threads_before: set[threading.Thread] = set()

    def start(self) -> None:
        import uvicorn

        from relay_server.config import load_config

        # As `serve --data-dir D --host 127.0.0.1 --port P` with RELAY_* = settings; a bad
        # setting ends the start as it ends a process.
        try:
            config = load_config(
                environ=self.settings,
                overrides={"data_dir": self.data_dir, "host": "127.0.0.1", "port": self.port},
            )
        except Exception as exc:
            raise RuntimeError(f"relay exited at start: {exc}") from exc
        level = getattr(logging, config.log_level.upper())
        handler = logging.FileHandler(self.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(level)
        handler.addFilter(_OwnRecords(self.name))
        self.handler = handler
        logging.getLogger().addHandler(handler)
        _root_level.hold(self.name, level)

        def serve() -> None:
            _serving.set(self.name)
            try:
                from relay_server.app import build_relay
                from relay_server.serving import uvicorn_options

                # Built here, so the relay's database is bound in this thread's context.
                relay = build_relay(config)
                self.relay = relay
                options = {**uvicorn_options(config), "log_config": None}
                server = uvicorn.Server(uvicorn.Config(relay.app, **options))
                self.server = server
                server.run()
            except BaseException:  # uvicorn ends a failed start with SystemExit
                logging.getLogger("tests.relay").exception("the relay stopped")

        self._threads_before = set(threading.enumerate())
        self.thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self.thread.start()

    def _join_workers(self) -> None:
        """Wait (a little) for the AnyIO worker threads born while this relay ran: its event
        loop told them to stop as it closed, and they end a moment later. Workers of another
        relay running in this process meanwhile are waited for only until the deadline."""
        deadline = time.monotonic() + WORKERS_STOP_S
        for worker in set(threading.enumerate()) - self._threads_before:
            if worker.name == "AnyIO worker thread":
                worker.join(max(0.0, deadline - time.monotonic()))

    @property
    def serving(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def started(self) -> bool:
        return bool(getattr(self.server, "started", False))

    def stop(self) -> None:
        try:
            if self.thread is None:
                return
            if self.server is not None:
                self.server.should_exit = True  # type: ignore[attr-defined]
            self.thread.join(STOP_TIMEOUT_S)
            if self.thread.is_alive() and self.server is not None:
                self.server.force_exit = True  # type: ignore[attr-defined]
                self.thread.join(STOP_TIMEOUT_S)
            if self.thread.is_alive():
                raise RuntimeError(f"the relay thread {self.name} did not stop")
            self._join_workers()
        finally:
            _root_level.release(self.name)
            handler = getattr(self, "handler", None)
            if handler is not None:
                logging.getLogger().removeHandler(handler)
                handler.close()


@dataclass
class RunningRelay:
    """A relay started by a test: served in a thread of this process, or its own process."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    in_process: bool = True
    _thread: _ServedInThread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    @property
    def token(self) -> str | None:
        return self.env.get("RELAY_TOKEN")

    @property
    def running(self) -> bool:
        """True while the relay serves: its process or its thread is alive."""
        if self.in_process:
            return self._thread is not None and self._thread.serving
        return self.process is not None and self.process.poll() is None

    def headers(self, client_id: str, token: str | None = None) -> dict[str, str]:
        """The identity headers of ``client_id`` (with the relay's token unless given)."""
        headers = {"X-Client-Id": client_id}
        token = token or self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def start(self) -> RunningRelay:
        """Start (or restart) the relay and wait until /healthz answers.

        Raises RuntimeError with the relay's log when it ends or stays silent instead.
        """
        if self.running:
            raise RuntimeError(f"the relay on port {self.port} is already running")
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-relay.log"
        if self.in_process:
            self._thread = _ServedInThread(self.env, self.data_dir, self.port, self.log_path)
            self._thread.start()
        else:
            self._start_process()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.running:
                self.stop()
                raise RuntimeError(f"relay exited at start:\n{self.log()}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"relay did not answer within {STARTUP_TIMEOUT_S}s:\n{self.log()}")

    def _answers(self) -> bool:
        if self.in_process and not (self._thread and self._thread.started):
            return False
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    def _start_process(self) -> None:
        assert self.log_path is not None
        command = [
            sys.executable,
            "-m",
            "relay_server",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        env = {**os.environ, **self.env}
        env.pop("RELAY_CONFIG", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def stop(self) -> None:
        """Stop the relay: SIGTERM to a process (SIGKILL if it lingers), or shut the server
        down and join its thread. Ports and threads are free when this returns."""
        if self.in_process:
            if self._thread is not None:
                self._thread.stop()
            return
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the process: no shutdown code runs."""
        if self.in_process:
            raise RuntimeError(
                "kill() needs a relay process: start_relay(process=True) or mark relay_process"
            )
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def admin(self, *args: str) -> str:
        """Run ``agent-relay-server ARGS --data-dir DATA_DIR`` with the relay's settings, as an
        operator would beside the running relay; its output (CalledProcessError on failure)."""
        command = [sys.executable, "-m", "relay_server", *args, "--data-dir", str(self.data_dir)]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={**os.environ, **self.env},
        ).stdout

    def add_client(self, client_id: str) -> str:
        """A new per-client token for ``client_id`` (replacing any it had), from ``add-client``."""
        output = self.admin("add-client", client_id)
        return next(line.strip() for line in output.splitlines() if line.startswith("    "))

    def listeners(self) -> int:
        """How many waits and live connections are parked on the relay's event hub right now.

        The observable event tests wait for instead of sleeping ("the waiter has parked");
        in-process relays only.
        """
        if not self.in_process or self._thread is None or self._thread.relay is None:
            raise RuntimeError("listeners() needs a running in-process relay")
        return int(self._thread.relay.hub.listener_count())

    def wait_for_listeners(self, at_least: int, timeout_s: float = 10.0) -> None:
        """Block until :meth:`listeners` reaches ``at_least`` (AssertionError at the deadline).
        From a sync test only: an async test polls :meth:`listeners` with its own loop free."""
        deadline = time.monotonic() + timeout_s
        while self.listeners() < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.listeners()} of {at_least} listeners after {timeout_s}s"
                )
            time.sleep(0.01)

    def access_line(self, pattern: str, within_s: float = 15.0) -> str | None:
        """The first access-log line matching ``pattern`` (a regex after ``relay_server.access``),
        polling the log until it shows up or ``within_s`` passes: the process writes it when the
        request ends, which for a stream is when the client goes away."""
        deadline = time.monotonic() + within_s
        while True:
            found = re.search(f"^.*relay_server.access {pattern}.*$", self.log(), re.MULTILINE)
            if found or time.monotonic() > deadline:
                return found.group(0) if found else None
            time.sleep(0.05)


StartRelay = Callable[..., RunningRelay]


def _wants_process(node: pytest.Item | pytest.Collector) -> bool:
    return node.get_closest_marker("relay_process") is not None


def _starter(
    tmp_path_factory: pytest.TempPathFactory, started: list[RunningRelay], process: bool
) -> StartRelay:
    def start(*, process: bool = process, **settings: object) -> RunningRelay:
        """Start a relay; ``settings`` become RELAY_* settings (token="..." by default).

        ``process=True`` runs it as ``python -m relay_server serve`` in a process of its own.
        """
        settings.setdefault("token", TOKEN)
        env = {
            f"RELAY_{key.upper()}": str(value)
            for key, value in settings.items()
            if value is not None
        }
        running = RunningRelay(
            data_dir=tmp_path_factory.mktemp("relay") / "data", env=env, in_process=not process
        )
        started.append(running)
        try:
            return running.start()
        except RuntimeError as exc:
            # free_port() only probes: another worker may take the port before the relay binds.
            if "address already in use" not in str(exc).lower():
                raise
            running.port = free_port()
            return running.start()

    return start


def _stop_all(started: list[RunningRelay]) -> None:
    problems = []
    for running in started:
        try:
            running.stop()
        except Exception as exc:
            problems.append(exc)
    if problems:
        raise problems[0]


DATABASE_FIXTURES: Final = ("postgres_url", "database_url")
"""Fixtures whose database a test's relays may run on: a dropped schema under a running relay
deadlocks its writes with the ``DROP SCHEMA``."""


@pytest.fixture
def start_relay(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[StartRelay]:
    """Start relays with any settings; all are stopped at the end of the test, before the
    test's database schema is dropped, whichever order the test names the fixtures in."""
    for database in DATABASE_FIXTURES:
        if database in request.fixturenames:
            request.getfixturevalue(database)  # set up first, so torn down after the relays
    started: list[RunningRelay] = []
    yield _starter(tmp_path_factory, started, _wants_process(request.node))
    _stop_all(started)


def _module_relay(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    backend: str,
    require_tool: RequireTool,
    **settings: object,
) -> Iterator[RunningRelay]:
    """A relay for a whole test module, on ``backend``'s database (a schema of its own on the
    test PostgreSQL, dropped after the relay stops)."""
    started: list[RunningRelay] = []
    start = _starter(tmp_path_factory, started, _wants_process(request.node))
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            settings["database_url"] = stack.enter_context(_postgres_schema(require_tool))
        stack.callback(_stop_all, started)  # before the schema is dropped
        yield start(**settings)


@pytest.fixture(scope="module")
def relay(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    relay_backend: str,
    require_tool: RequireTool,
) -> Iterator[RunningRelay]:
    """One shared-token relay for the whole test module, on ``relay_backend``."""
    yield from _module_relay(tmp_path_factory, request, relay_backend, require_tool)


@pytest.fixture(scope="module")
def relay_of_all_revisions(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    relay_backend: str,
    require_tool: RequireTool,
) -> Iterator[RunningRelay]:
    """A shared-token relay that also serves MCP 2026-07-28 (``mcp_revisions = "all"``), on
    ``relay_backend``."""
    yield from _module_relay(
        tmp_path_factory, request, relay_backend, require_tool, mcp_revisions="all"
    )


@pytest.fixture
def session_name(request: pytest.FixtureRequest) -> str:
    """A session name unique to this test: its name, cut to fit, then a digest of the whole
    name, so that parameters cut off the end still tell two tests apart."""
    base = request.node.name.lower().replace("[", "-").replace("]", "")
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in base)
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    return f"{cleaned.strip('-_')[:48].strip('-_')}-{digest}-{os.getpid() % 1000}"


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like the relay."""
    return "asyncio"

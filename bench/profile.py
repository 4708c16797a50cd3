"""Where a relay's time goes under load: py-spy samples, attributed to the layer that spent them.

``uv run python -m bench.profile mcp|http [--clients N] [--seconds S]`` starts a relay, drives
it with the throughput figure's senders, records it with py-spy (``py-spy`` on PATH, else
``uvx py-spy``; neither is a project dependency) counting only samples that hold the GIL, and
prints a table: each sample goes to the innermost frame that belongs to a known layer (relay
service, TOON, access log, auth, FastMCP, the MCP SDK, SSE, Starlette, uvicorn/h11, anyio, the
event loop). Library frames without a layer of their own (peewee, pydantic, logging) count for
the layer that called them, so "service" includes its SQL and "FastMCP" its argument validation.

``python -m bench.profile --raw FILE`` attributes an existing ``py-spy record -f raw`` file.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Final

from bench.processes import ServerPool
from bench.stats import drive
from bench.throughput import Connect, http_workers, mcp_workers

LAYERS: Final = (
    ("relay_server/service/", "relay service (incl. peewee/SQLite)"),
    ("relay_server/storage/", "relay service (incl. peewee/SQLite)"),
    ("relay_core/toon.py", "TOON encoding"),
    ("relay_server/middleware/access_log.py", "access log"),
    ("relay_server/middleware/auth.py", "auth middleware"),
    ("relay_server/", "relay adapters (tools, routes, push)"),
    ("relay_core/", "relay adapters (tools, routes, push)"),
    ("fastmcp/", "FastMCP (dispatch, middleware, validation)"),
    ("mcp/", "MCP SDK (sessions, streams)"),
    ("sse_starlette/", "SSE responses"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn + h11"),
    ("h11/", "uvicorn + h11"),
    ("anyio/", "anyio (thread hops, task groups)"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
)
IDLE: Final = ("Condition.wait", "Queue.get", "EpollSelector.select")


def layer_of(frames: list[str]) -> str:
    """The layer of the innermost frame that has one."""
    for frame in reversed(frames):
        for marker, layer in LAYERS:
            if marker in frame:
                return layer
    return "other"


def attribute(raw: Path) -> Counter[str]:
    """Busy samples per layer from a py-spy ``raw`` (collapsed stacks) file."""
    layers: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not stack or frames[-1].startswith(IDLE):
            continue
        layers[layer_of(frames)] += int(count)
    return layers


def render(layers: Counter[str]) -> str:
    """The layers as a table, largest first."""
    total = sum(layers.values()) or 1
    lines = [f"{'layer':45}  share", f"{'-' * 45}  -----"]
    lines += [f"{layer:45}  {n / total:5.1%}" for layer, n in layers.most_common()]
    return "\n".join([*lines, f"({total} samples holding the GIL)"])


def py_spy() -> list[str]:
    """How to run py-spy here."""
    if shutil.which("py-spy"):
        return ["py-spy"]
    if shutil.which("uvx"):
        return ["uvx", "py-spy"]
    raise SystemExit("py-spy not found: install it (uv tool install py-spy) or put uvx on PATH")


async def record(connect: Connect, clients: int, seconds: float, out: Path) -> str:
    """Load a fresh relay with ``clients`` senders and record ``seconds`` of it."""
    pool = ServerPool(out.parent)
    try:
        relay = pool.shared_relay()
        _, operations, connections = await connect(pool.baseline(), relay, clients)
        try:
            await drive(operations, relay, 1.0, 0.5)  # past first-call imports and warm-up
            command = [*py_spy(), "record", "-p", str(relay.pid), "-o", str(out), "-f", "raw"]
            command += ["-d", str(int(seconds)), "-r", "250", "--gil", "--nonblocking"]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                load = await drive(operations, relay, seconds, 0.5)
                _, errors = spy.communicate(timeout=seconds + 60)
            finally:
                if spy.poll() is None:
                    spy.kill()
                    spy.wait()
            if spy.returncode:
                raise SystemExit(f"py-spy failed: {errors.decode(errors='replace')}")
        finally:
            for connection in connections:
                await connection.close()
    finally:
        pool.stop_all()
    return (
        f"{load.rate:.0f} calls/s, {load.server_cpu_ms_per_call:.2f} ms server CPU per call, "
        f"p50 {load.latencies.p50_ms:.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("load", nargs="?", choices=["mcp", "http"], help="which senders")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--raw", type=Path, help="attribute this py-spy raw file instead")
    args = parser.parse_args(argv)
    if args.raw:
        print(render(attribute(args.raw)))
        return 0
    if not args.load:
        parser.error("name a load (mcp or http) or pass --raw FILE")
    with tempfile.TemporaryDirectory(prefix="agent-relay-profile-") as workdir:
        out = Path(workdir) / "profile.txt"
        connect = mcp_workers if args.load == "mcp" else http_workers
        summary = asyncio.run(record(connect, args.clients, args.seconds, out))
        print(f"{args.load} sends, {args.clients} clients: {summary}\n")
        print(render(attribute(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

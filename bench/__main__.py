"""``uv run python -m bench [--quick]``: every figure, with its same-run baseline, as a table.

Starts its own relays and baseline server on free 127.0.0.1 ports with temporary data
directories, stops them all at the end, writes ``bench/results/latest.json`` and prints the
table. Exit status 0 even when a figure misses its target (the table says so); 1 when a figure
could not run at all.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from bench.cli_start import cli_start_figure
from bench.durability import durability_figure
from bench.encoding import encoding_figure
from bench.files import files_figure
from bench.handoff import handoff_figure
from bench.latency import latency_figure
from bench.memory import memory_figure
from bench.paging import paging_figure
from bench.postgres import postgres_figure
from bench.processes import REPO_ROOT, ServerPool
from bench.report import Row, render, write_json
from bench.scale import FULL, QUICK, SCALES, Scale
from bench.search import search_figure
from bench.startup import startup_figure
from bench.team import team_figure
from bench.throughput import http_send_figure, mcp_send_figure
from bench.waiters import waiters_figure

Figure = Callable[[Scale, ServerPool], Awaitable[list[Row]]]

FIGURES: Final[dict[str, Figure]] = {
    "mcp": mcp_send_figure,
    "http": http_send_figure,
    "latency": latency_figure,
    "paging": paging_figure,
    "search": search_figure,
    "files": files_figure,
    "toon": encoding_figure,
    "waiters": waiters_figure,
    "fsync": durability_figure,
    "team": team_figure,
    "cli": cli_start_figure,
    "handoff": handoff_figure,
    "memory": memory_figure,
    "startup": startup_figure,
    "postgres": postgres_figure,
}
DEFAULT_OUTPUT: Final = REPO_ROOT / "bench" / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="agent-relay benchmarks against same-run baselines."
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, under a minute (default: full run)"
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALES), help="full, quick or smoke (overrides --quick)"
    )
    parser.add_argument(
        "--only",
        metavar="FIGURE[,FIGURE]",
        help=f"run only these figures: {', '.join(FIGURES)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="results file [bench/results/latest.json]",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (relay logs and data)"
    )
    args = parser.parse_args(argv)
    selected = args.only.split(",") if args.only else list(FIGURES)
    unknown = [name for name in selected if name not in FIGURES]
    if unknown:
        parser.error(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    args.figures = selected
    args.scale = SCALES[args.scale] if args.scale else (QUICK if args.quick else FULL)
    return args


async def run(scale: Scale, names: list[str], workdir: Path) -> tuple[list[Row], bool]:
    """Run the named figures in order; a figure that fails is reported and the rest still run."""
    pool = ServerPool(workdir)
    rows: list[Row] = []
    ok = True
    try:
        for name in names:
            started = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                rows += await FIGURES[name](scale, pool)
            except Exception as error:
                ok = False
                traceback.print_exc()
                print(pool.log_tails(), file=sys.stderr)
                rows.append(Row.skip(name, "-", f"failed: {type(error).__name__}: {error}"))
            print(
                f"[bench] {name} done in {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        pool.stop_all()
    return rows, ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="agent-relay-bench-"))
    try:
        rows, ok = asyncio.run(run(args.scale, args.figures, workdir))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"[bench] kept {workdir}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    write_json(args.output, rows, scale=args.scale.name, elapsed_s=elapsed)
    print(render(rows))
    print(f"\n{args.scale.name} run, {elapsed:.0f}s; results in {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

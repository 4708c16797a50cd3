"""The soak run works end to end at a few seconds' length, so its code cannot rot unnoticed.

The real run (ten minutes, 64 clients) is not for CI; this one checks the command runs, stops
its relay and reports calls, errors, lost messages and memory.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_few_seconds_of_soak_lose_nothing_and_report_every_figure(tmp_path):
    output = tmp_path / "soak.json"
    command = [sys.executable, "-m", "bench.soak", "--minutes", "0.1", "--clients", "8"]
    finished = subprocess.run(
        [*command, "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["calls"] > 0
    assert (results["errors"], results["lost"], results["bad_files"]) == (0, 0, 0)
    assert results["acknowledged"] == results["stored"]
    assert results["check_status"] == 0
    assert results["rss_kib"]["start"] > 0
    assert results["rss_samples"]

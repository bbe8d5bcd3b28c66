"""bench/cron_speed.py runs, prints one row per cron and zone, and its last line is JSON in which
ours and croniter's fires agree for every cron in UTC. Speed itself is measured by the bench, not
asserted here: a shared machine's load would make such a test flaky."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "cron_speed.py"


def test_cron_speed_bench_runs_and_agrees_with_croniter_in_utc() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--count", "200", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    rows = summary["rows"]
    assert len(rows) == len(lines) - 2 == 18  # a header, a line per row, the JSON
    assert all(row["same_fires"] for row in rows if row["zone"] == "UTC")
    assert all(row["next_fire_us"] > 0 and row["croniter_us"] > 0 for row in rows)
    assert summary["worst_ours_over_croniter"] > 0

"""Next-fire speed: shared.timing against croniter, on the same crons, side by side.

    .venv/bin/python bench/cron_speed.py [--count 5000] [--repeat 3]

For each cron and zone, three ways to walk ``--count`` successive fires from 2026-01-01:
``next_fire`` uncached (each call from a bare instant, as the beat asks it: ``next_fire`` keeps a
memo, bypassed here), ``iter_fires`` (successive fires, as a preview or a backfill walks them),
and croniter's ``get_next`` on one iterator (croniter's own fastest use). Each figure is the best
of ``--repeat`` runs, in microseconds per fire. In UTC, where no DST policy differs, the bench also
checks that both find the same fires. Human-readable lines as it runs; the last line is one JSON
object. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from shared.model import CronTrigger
from shared.timing import iter_fires, next_fire

CRONS = [
    "* * * * *",
    "*/5 * * * *",
    "30 2 * * *",
    "0 9 * * MON-FRI",
    "0 0 1 * *",
    "0 0 13 * FRI",
    "0 12 L * *",
    "0 18 * * 5#3",
    "*/20 * * * * ?",  # Quartz, with seconds (croniter: six fields, seconds first)
]
ZONES = ["UTC", "America/New_York"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def _best_us(walk: Callable[[], object], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        walk()
        best = min(best, time.perf_counter() - began)
    return best / count * 1e6


def _ours_uncached(trigger: CronTrigger, count: int) -> list[int]:
    compute = next_fire.__wrapped__  # type: ignore[attr-defined]  # lru_cache's undecorated function
    fires, after = [], int(START.timestamp() * 1000)
    for _ in range(count):
        after = compute(trigger, after)
        fires.append(after)
    return fires


def _ours_iter(trigger: CronTrigger, count: int) -> list[int]:
    fires = []
    for fire_ms in iter_fires(trigger, int(START.timestamp() * 1000)):
        fires.append(fire_ms)
        if len(fires) == count:
            break
    return fires


def _croniter(expr: str, zone: str, count: int) -> list[int]:
    quartz = len(expr.split()) == 6
    text = expr.replace("?", "*") if quartz else expr
    walker = croniter(text, START.astimezone(ZoneInfo(zone)), second_at_beginning=quartz)
    return [int(walker.get_next(float) * 1000) for _ in range(count)]


def measure(expr: str, zone: str, count: int, repeat: int) -> dict[str, object]:
    trigger = CronTrigger(expr, zone)
    row: dict[str, object] = {
        "cron": expr,
        "zone": zone,
        "next_fire_us": _best_us(lambda: _ours_uncached(trigger, count), count, repeat),
        "iter_fires_us": _best_us(lambda: _ours_iter(trigger, count), count, repeat),
        "croniter_us": _best_us(lambda: _croniter(expr, zone, count), count, repeat),
    }
    if zone == "UTC":
        row["same_fires"] = _ours_iter(trigger, count) == _croniter(expr, zone, count)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="fires per walk")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the best counts)")
    args = parser.parse_args()
    print(f"{'cron':<18} {'zone':<17} {'next_fire':>10} {'iter_fires':>11} {'croniter':>9}  x")
    rows = []
    for zone in ZONES:
        for expr in CRONS:
            row = measure(expr, zone, args.count, args.repeat)
            rows.append(row)
            ratio = float(row["croniter_us"]) / float(row["next_fire_us"])  # type: ignore[arg-type]
            same = {True: "  same fires", False: "  FIRES DIFFER"}.get(row.get("same_fires"), "")  # type: ignore[call-overload]
            ours = f"{row['next_fire_us']:>8.1f}us {row['iter_fires_us']:>9.1f}us"
            print(f"{expr:<18} {zone:<17} {ours} {row['croniter_us']:>7.1f}us  {ratio:4.1f}{same}")
    slowest = max(float(r["next_fire_us"]) / float(r["croniter_us"]) for r in rows)  # type: ignore[arg-type]
    print(json.dumps({"count": args.count, "rows": rows, "worst_ours_over_croniter": slowest}))


if __name__ == "__main__":
    main()

"""The chaos scenarios of tests/test_chaos_e2e.py, for minutes: one-off webhook jobs fall due
(600 over 120 s by default) while webhooks workers, beats and Redis are SIGKILLed and receivers
hang or reset; then every acknowledged job is accounted for.

Each scenario runs on its own redis-server (AOF, appendfsync always), real beats and webhooks
workers and receivers on 127.0.0.1 (tests/chaos_support.py; see bench/README.md). Prints one
line of figures per scenario; the last line is one JSON object. Exits 1 if a job was lost or
run twice.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' harness

from tests.chaos_figures import Figures  # noqa: E402
from tests.chaos_support import SCENARIOS, SETTINGS, run, scaled  # noqa: E402

LISTED = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # No choices here: Python 3.11's argparse checks what a nargs="*" argument got (a list) against
    # them as one value, and `make chaos` (no scenario named) failed; checked below instead.
    parser.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)}; default: all")
    parser.add_argument("--seconds", type=float, default=120.0, help="jobs fall due this long")
    parser.add_argument("--rate", type=float, default=5.0, help="jobs a second")
    parser.add_argument(
        "--appendfsync",
        default="always",
        choices=("always", "everysec"),
        help="Redis's fsync policy (everysec: what a SIGKILL of Redis may lose)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting on top of the runs' (e.g. http_read_timeout_s=15), repeatable",
    )
    parser.add_argument("--keep", action="store_true", help="keep every run's logs and files")
    args = parser.parse_args()
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")
    results: dict[str, Figures] = {}
    walls: dict[str, float] = {}
    overrides = dict(item.split("=", 1) for item in args.set)
    plans = {
        n: scaled(SCENARIOS[n], args.seconds, args.rate, args.appendfsync, overrides)
        for n in SCENARIOS
    }
    for name in args.scenarios or sorted(SCENARIOS):
        plan = plans[name]
        started = time.monotonic()
        workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{name}-"))
        results[name] = run(plan, workdir, say)
        walls[name] = round(time.monotonic() - started, 1)
        if args.keep or results[name].lost or results[name].duplicates:
            say(f"chaos {name}: logs and Redis's files kept in {workdir}")
        else:
            shutil.rmtree(workdir)
    summary = {
        "seconds": args.seconds,
        "rate": args.rate,
        "settings": {**SETTINGS, **overrides},
        "appendfsync": args.appendfsync,
        "plans": {name: vars(plans[name]) for name in results},
        "wall_s": walls,
        "figures": {name: _public(figures) for name, figures in results.items()},
    }
    print(json.dumps(summary, sort_keys=True), flush=True)
    failed = [name for name, f in results.items() if f.lost or f.duplicates]
    return 1 if failed else 0


def _public(figures: Figures) -> dict[str, object]:
    """The figures, with at most LISTED ids of lost or doubled jobs (their counts are there)."""
    public: dict[str, object] = json.loads(figures.json())
    for name in ("lost_ids", "duplicate_ids"):
        public[name] = getattr(figures, name)[:LISTED]
    return public


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())

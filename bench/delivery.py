"""How fast the service delivers webhooks, and how late: through the real API, beat and pool.

    .venv/bin/python bench/delivery.py --delay-ms 200 --rate 1000 [--window-s 30] [--hang 0.1]

Starts its own redis-server, the API (`scheduler api`), one beat and ONE webhooks worker process
(`scheduler worker --pool webhooks`, its defaults), and an aiohttp receiver (bench/receiver.py)
on several 127.0.0.1 ports (destinations) that answers after D ms. It creates R x W one-off
`/1/jobs` (`when`) through the API, due evenly over a W-second window that starts after they are
all created; `--hang F` sends a fraction F of them to a port that never answers. Then it waits
for every fire to the answering ports and prints delivered/s, lag p50/p95/p99/max (receive time
minus the scheduled instant), undelivered (lost, once the backlog is waited out) and duplicated
webhook-ids. The same fires then go through the baseline a user would build instead
(bench/baseline_app.py: Celery `apply_async(eta=...)` of a `requests.post` task, prefork, 2
processes) against the same receiver. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.embedded_redis import free_port, start_redis_server  # noqa: E402

CREATE_THREADS = 8
WARMUP = 400  # jobs created first to measure the API's pace
STALL_S = 30.0  # after the window, no arrival for this long ends the wait


def say(line: str) -> None:
    print(line, flush=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Fire:
    n: int
    due_ms: int
    url: str
    hangs: bool


@dataclass
class Run:
    workdir: Path
    redis_url: str
    ports: list[int]
    hang_port: int

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=str(ROOT), REDIS_URL=self.redis_url)
        env.update(
            SCHEDULER_DATA_DIR=str(self.workdir),
            SCHEDULER_TARGET_ALLOWLIST="127.0.0.0/8",
            SCHEDULER_LOG_FORMAT="text",
            SCHEDULER_RATE_LIMIT_PER_ACCOUNT="",
            SCHEDULER_RATE_LIMIT_PER_ADDRESS="",
            SCHEDULER_MAX_SCHEDULES_PER_ACCOUNT="10000000",
        )
        env.update(extra)
        return env

    def start(self, name: str, args: list[str], **extra: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        return subprocess.Popen(args, env=self.env(**extra), cwd=ROOT, stdout=log, stderr=log)


def plan(args: argparse.Namespace, run: Run, start_ms: int) -> list[Fire]:
    count = int(args.rate * args.window_s)
    fires = []
    for n in range(count):
        hangs = args.hang > 0 and (n % round(1 / args.hang)) == 0
        port = run.hang_port if hangs else run.ports[n % len(run.ports)]
        due = start_ms + int(n * 1000 / args.rate)
        fires.append(Fire(n, due, f"http://127.0.0.1:{port}/f/{n}/{due}", hangs))
    return fires


@contextmanager
def receiver(run: Run, delay_ms: float, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    ports = ",".join(map(str, run.ports))
    cmd = [sys.executable, str(ROOT / "bench" / "receiver.py"), "--ports", ports]
    cmd += ["--hang-ports", str(run.hang_port), "--delay-ms", str(delay_ms), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def received(out: Path) -> list[tuple[int, str, str]]:
    """(receive ms, id, path) of every request the receiver recorded."""
    rows = []
    text = out.read_text() if out.exists() else ""
    # the receiver may be writing as we read: a last line without its newline is not whole yet
    for line in text[: text.rfind("\n") + 1].splitlines():
        ms, _port, rid, path = line.split(" ", 3)
        rows.append((int(ms), rid, path))
    return rows


def figures(fires: list[Fire], out: Path, wall_s: float) -> dict[str, float | int]:
    """Delivered/s, lag percentiles, lost and duplicated, over the answering destinations."""
    expected = {f"/f/{f.n}/{f.due_ms}": f for f in fires if not f.hangs}
    first: dict[str, int] = {}
    ids_by_path: dict[str, set[str]] = {}
    seen_ids: dict[str, int] = {}
    for ms, rid, path in received(out):
        if path not in expected:
            continue
        first[path] = min(ms, first.get(path, ms))
        ids_by_path.setdefault(path, set()).add(rid)
        seen_ids[rid] = seen_ids.get(rid, 0) + 1
    lags = sorted(first[p] - expected[p].due_ms for p in first)
    q = statistics.quantiles(lags, n=100, method="inclusive") if len(lags) > 1 else [0] * 99
    return {
        "fires": len(expected),
        "delivered": len(first),
        "delivered_per_s": round(len(first) / wall_s, 1) if wall_s else 0,
        "lag_p50_ms": round(q[49]),
        "lag_p95_ms": round(q[94]),
        "lag_p99_ms": round(q[98]),
        "lag_max_ms": lags[-1] if lags else 0,
        "undelivered": len(expected) - len(first),
        "duplicated": sum(1 for n in seen_ids.values() if n > 1),
        "ids_per_fire_max": max((len(s) for s in ids_by_path.values()), default=0),
    }


def wait_for(fires: list[Fire], out: Path, drain_s: float) -> float:
    """Wait until every answering fire arrived, or nothing more arrived for ``STALL_S`` after the
    window, or ``drain_s`` after it at the most (what never arrives then is lost, or in a backlog
    the run did not wait out: `undelivered` says so); returns the delivery wall time, first due
    instant to the last arrival."""
    wanted = {f"/f/{f.n}/{f.due_ms}" for f in fires if not f.hangs}
    deadline = fires[-1].due_ms + drain_s * 1000
    rows: list[tuple[int, str, str]] = []
    seen, progress_ms = 0, now_ms()
    while now_ms() < deadline:
        rows = received(out)
        if wanted <= {path for _, _, path in rows}:
            break
        if len(rows) > seen:
            seen, progress_ms = len(rows), now_ms()
        elif now_ms() > max(progress_ms, fires[-1].due_ms) + STALL_S * 1000:
            break  # nothing arrives any more: the rest is lost
        time.sleep(0.5)
    last = max((ms for ms, _, path in rows if path in wanted), default=fires[-1].due_ms)
    return max(0.001, (last - fires[0].due_ms) / 1000)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants (a prefork
    pool's processes), read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def create_jobs(api_url: str, auth: tuple[str, str], fires: list[Fire]) -> float:
    """POST every fire as a `/1/jobs` `when` job (8 threads); returns creates/s."""
    sessions: dict[int, requests.Session] = {}

    def create(fire: Fire) -> None:
        import threading

        session = sessions.setdefault(threading.get_ident(), requests.Session())
        doc = {"url": fire.url, "when": iso(fire.due_ms), "data": "{}"}
        answer = session.post(f"{api_url}/1/jobs", json=doc, auth=auth, timeout=30)
        if answer.status_code not in (200, 201):
            raise SystemExit(f"create failed: {answer.status_code} {answer.text[:200]}")

    started = time.monotonic()
    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(create, fires))
    return len(fires) / (time.monotonic() - started)


def window_start(args: argparse.Namespace, creates_per_s: float) -> int:
    """Far enough ahead that every job is created before the first falls due."""
    lead_s = args.rate * args.window_s / creates_per_s * 1.5 + 5
    return now_ms() + int(lead_s * 1000)


def measure_creates(api_url: str, auth: tuple[str, str], run: Run) -> float:
    """Creates/s of the API, on WARMUP jobs due tomorrow (they never fire in the window)."""
    tomorrow = now_ms() + 86_400_000
    url = f"http://127.0.0.1:{run.ports[0]}/warmup"
    return create_jobs(api_url, auth, [Fire(n, tomorrow, url, False) for n in range(WARMUP)])


def run_ours(args: argparse.Namespace, run: Run) -> dict[str, float | int]:
    scheduler = [sys.executable, "-m", "scheduler_cli"]
    api_port = free_port()
    made = subprocess.run(
        [*scheduler, "accounts", "create", "bench", "--json"],
        env=run.env(), cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    creds = json.loads(made.stdout)
    procs = [
        run.start("api", [*scheduler, "api"], SCHEDULER_API_PORT=str(api_port)),
        run.start("beat", [*scheduler, "beat", "--loglevel", "WARNING"]),
        run.start("worker", [*scheduler, "worker", "--pool", "webhooks", "--loglevel", "WARNING"]),
    ]
    try:
        api_url = f"http://127.0.0.1:{api_port}"
        wait_http(f"{api_url}/healthz")
        out = run.workdir / "ours.recv"
        auth = (creds["appkey"], creds["master_secret"])
        fires = plan(args, run, window_start(args, measure_creates(api_url, auth, run)))
        with receiver(run, args.delay_ms, out):
            rate = create_jobs(api_url, auth, fires)
            say(f"ours: created {len(fires)} jobs at {rate:.0f}/s")
            if now_ms() > fires[0].due_ms:
                say("ours: WARNING the creation ran into the window (lower --rate or --window-s)")
            cpu_before = [tree_cpu_s(p.pid) for p in procs[1:]]
            wall_s = wait_for(fires, out, args.drain_s)
            cpu = [tree_cpu_s(p.pid) - c for p, c in zip(procs[1:], cpu_before, strict=True)]
            result = figures(fires, out, wall_s)
    finally:
        stop(procs)
    per_fire = {f"{name}_cpu_ms_per_fire": round(c * 1000 / len(fires), 2)
                for name, c in zip(("beat", "worker"), cpu, strict=True)}  # fmt: skip
    return {"creates_per_s": round(rate), **result, **per_fire}


def run_baseline(args: argparse.Namespace, run: Run) -> dict[str, float | int]:
    broker = run.redis_url.rsplit("/", 1)[0] + "/1"
    worker = [sys.executable, "-m", "celery", "-A", "bench.baseline_app", "worker", "-Q"]
    worker += ["baseline", "-P", "prefork", "-c", "2", "--loglevel", "WARNING"]
    procs = [run.start("baseline", worker, BASELINE_BROKER=broker)]
    try:
        os.environ["BASELINE_BROKER"] = broker
        from bench.baseline_app import post

        out = run.workdir / "baseline.recv"
        fires = plan(args, run, window_start(args, args.create_rate))
        with receiver(run, args.delay_ms, out):
            for fire in fires:  # what `apply_async(eta=...)` costs a user's code, per fire
                eta = datetime.fromtimestamp(fire.due_ms / 1000, UTC)
                post.apply_async((fire.url, f"b-{fire.n}"), eta=eta)
            cpu_before = tree_cpu_s(procs[0].pid)
            wall_s = wait_for(fires, out, args.drain_s)
            cpu = tree_cpu_s(procs[0].pid) - cpu_before
            result = figures(fires, out, wall_s)
    finally:
        stop(procs)
    return {**result, "worker_cpu_ms_per_fire": round(cpu * 1000 / len(fires), 2)}


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s} s")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=0.0, help="receiver delay D")
    parser.add_argument("--rate", type=float, default=500.0, help="fires per second R")
    parser.add_argument("--window-s", type=float, default=30.0)
    parser.add_argument("--hang", type=float, default=0.0, help="fraction sent to a hung port")
    parser.add_argument("--destinations", type=int, default=4, help="answering ports")
    parser.add_argument(
        "--drain-s", type=float, default=900.0, help="longest wait after the window (a backlog)"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--create-rate", type=float, default=2000.0,
        help="apply_async/s expected of the baseline's loop: its window starts after it",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp:
        workdir = Path(tmp)
        server = start_redis_server(workdir / "redis")
        try:
            ports = [free_port() for _ in range(args.destinations)]
            run = Run(workdir, server.url, ports, free_port())
            shape = f"R={args.rate:g}/s, W={args.window_s:g} s, hang={args.hang}"
            say(f"D={args.delay_ms:g} ms, {shape}")
            ours = run_ours(args, run)
            say(f"ours: {ours}")
            baseline = {} if args.no_baseline else run_baseline(args, run)
            if baseline:
                say(f"baseline: {baseline}")
        finally:
            server.stop()
    ratio = ours["delivered_per_s"] / baseline["delivered_per_s"] if baseline else None
    say(json.dumps({"delay_ms": args.delay_ms, "rate": args.rate, "window_s": args.window_s,
                    "hang": args.hang, "ours": ours, "baseline": baseline,
                    "delivered_per_s_ratio": round(ratio, 2) if ratio else None}))  # fmt: skip


if __name__ == "__main__":
    main()

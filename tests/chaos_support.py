"""Chaos runs: a stream of one-off webhook jobs falls due while processes, Redis and receivers
fail, then every acknowledged job is accounted for (tests/test_chaos_e2e.py runs them short,
bench/chaos.py for minutes).

One run: its own redis-server (AOF, ``appendfsync always``), real beats and webhooks workers
(``ProcessGroup``, so whatever pool ``scheduler worker`` runs), receivers on 127.0.0.1
(tests/chaos_receivers.py). Jobs are stored through the store (``put_schedule``, acknowledged
when it returns) at ``rate`` a second for ``seconds``, each due ``LEAD_MS`` after it is stored;
faults land on due instants (just after the beat publishes). Then the run waits until every job
settled and nothing is left to re-publish, and adds it up (tests/chaos_figures.py).
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis

from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.errors import StoreUnavailable
from shared.execution import execution_id
from shared.store import Store
from tests.chaos_cluster import Cluster, kill_and_restart, redis_kill_and_restart
from tests.chaos_figures import Figures, Job, account
from tests.chaos_receivers import Receivers
from tests.factories import once, webhook_schedule
from tests.support import now_ms, wait_until

# A worker that could not record an attempt (Redis away past its patience) gives it back.
GIVEN_BACK = re.compile(r"deliver\[([^\]]+)\] reject requeue=True")
LEAD_MS = 1000  # a job is due this long after it is stored
KILL_JITTER_MS = 60  # a fault lands this much after a due instant at most
PAUSE_AFTER_CLAIM_MS = 200  # beats hold their claims this long when beats are killed
MIN_UP_S = 1.0  # a restarted process runs at least this long (once ready) before its next kill
# Each kind of fault strikes at least this often; on a slow machine (a restart taking seconds)
# jobs keep falling due until it has.
MIN_FAULTS = 2
# Tight timings, consistent with the config's checks: a fire no worker began is published again
# after 1 s; an attempt may run 4 s (hard limit 6 s, lease 7 s), the broker's visibility
# timeout exceeds the hard limit; a worker waits 2 s for Redis to record an attempt (longer
# than a 1 s outage); a failing receiver gets 2 attempts, 1 s each at most.
SETTINGS: dict[str, Any] = {
    "republish_after_s": 1,
    "attempt_time_limit_s": 4,
    "visibility_timeout_s": 8,
    "redis_outage_retry_s": 2,
    "retry_base_s": 0.5,
    "retry_max_s": 2,
    "max_attempts": 2,
    "http_connect_timeout_s": 1,
    "http_read_timeout_s": 1,
    "beat_lease_ms": 1500,  # a dead beat's claims are taken over after this
    "log_format": "text",
}


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: float = 10.0  # jobs fall due for this long
    rate: float = 5.0  # jobs a second
    hang_share: float = 0.0  # jobs whose receiver never answers
    reset_share: float = 0.0  # jobs whose receiver resets the connection
    worker_kill_every_s: float = 0.0  # 0 = never
    beat_kill_every_s: float = 0.0
    redis_kill_every_s: float = 0.0
    down_s: float = 1.0  # a killed process (or Redis) is started again this much later
    beats: int = 1
    # "always": every write Redis acknowledged is on disk; "everysec" (deploy/'s) may lose the
    # last second of them to a SIGKILL (bench/chaos.py --appendfsync everysec measures it).
    appendfsync: str = "always"

    overrides: dict[str, Any] = field(default_factory=dict)  # settings on top of SETTINGS

    def settings(self) -> dict[str, Any]:
        held = {"beat_pause_after_claim_ms": PAUSE_AFTER_CLAIM_MS}  # so a kill lands mid-claim
        return {**SETTINGS, **(held if self.beat_kill_every_s else {}), **self.overrides}


SCENARIOS = {
    "a": Plan("a", worker_kill_every_s=3),
    "b": Plan("b", beats=2, beat_kill_every_s=2),
    "c": Plan("c", redis_kill_every_s=4),
    "d": Plan("d", hang_share=0.05, reset_share=0.05),
    "e": Plan(
        "e",
        beats=2,
        hang_share=0.05,
        reset_share=0.05,
        worker_kill_every_s=3,
        beat_kill_every_s=4,
        redis_kill_every_s=5,
    ),
}


def scaled(
    plan: Plan,
    seconds: float,
    rate: float,
    appendfsync: str = "always",
    overrides: dict[str, Any] | None = None,
) -> Plan:
    return replace(
        plan, seconds=seconds, rate=rate, appendfsync=appendfsync, overrides=overrides or {}
    )


@dataclass(frozen=True)
class Grid:
    """The jobs' due instants: ``first_ms`` + k x ``step_ms``."""

    first_ms: int
    step_ms: int
    count: int

    def due(self, k: int) -> int:
        return self.first_ms + k * self.step_ms

    def due_at_or_after(self, at_ms: int) -> int:
        k = max(0, -(-(at_ms - self.first_ms) // self.step_ms))
        return self.due(k)

    @property
    def last_ms(self) -> int:
        return self.due(self.count - 1)


class Load:
    """Stores the jobs at their instants; ``jobs`` holds the acknowledged ones."""

    def __init__(self, store: Store, appkey: str, receivers: Receivers, plan: Plan) -> None:
        self.store, self.appkey, self.receivers, self.plan = store, appkey, receivers, plan
        self.rng = random.Random(plan.name)  # the same share of failing receivers each run
        self.jobs: list[Job] = []
        self.refused = 0

    def run(self, grid: Grid, faults_over: threading.Event) -> None:
        """Store ``grid``'s jobs at their instants, and more while faults are still to come."""
        for k in itertools.count():
            if k >= grid.count and faults_over.is_set():
                return
            due = grid.due(k)
            _sleep_until(due - LEAD_MS)
            self._store(k, self._kind(), due)

    def _kind(self) -> str:
        draw = self.rng.random()
        if draw < self.plan.hang_share:
            return "hang"
        return "reset" if draw < self.plan.hang_share + self.plan.reset_share else "ok"

    def _store(self, k: int, kind: str, due: int) -> None:
        url = f"{self.receivers.url(kind)}/{k}"
        schedule = webhook_schedule(once(due), url, account=self.appkey, data=f'{{"n":{k}}}')
        try:
            self.store.put_schedule(schedule, due)
        except (redis.RedisError, StoreUnavailable):  # Redis is down: not acknowledged
            self.refused += 1
            return
        self.jobs.append(Job(execution_id(schedule.id, due), kind, due))


def run(plan: Plan, workdir: Path, say: Callable[[str], None] = print) -> Figures:
    """One chaos run of ``plan``: its figures (the last line ``say`` gets)."""
    cluster = Cluster(workdir, plan.settings(), plan.appendfsync)
    try:
        with Receivers() as receivers:
            figures = _run(plan, cluster, receivers, say)
    finally:
        cluster.stop()
    say(figures.line())
    return figures


def _run(plan: Plan, cluster: Cluster, receivers: Receivers, say: Callable[[str], None]) -> Figures:
    # The processes' settings, checked as they will check them (visibility > hard limit...).
    env = {f"SCHEDULER_{name.upper()}": str(value) for name, value in plan.settings().items()}
    config = Config.from_env(env, redis_url=cluster.redis.url, data_dir=str(cluster.workdir))
    store = Store.from_url(cluster.redis.url, config.key_prefix)
    # A signed account: its callbacks carry Standard Webhooks headers, webhook-id = execution id.
    created = create_account(store, "chaos", secret_key=load_secret_key(config), now_ms=now_ms())
    cluster.start(plan.beats, workers=1)
    wait_until(store.last_beat_ms, timeout_s=60, what="a beat ticking")
    say(f"chaos {plan.name}: {plan}")
    own_store = Store.from_url(cluster.redis.url, config.key_prefix)  # the load's own connections
    load = Load(own_store, created["appkey"], receivers, plan)
    _drive(plan, cluster, load)
    say(f"chaos {plan.name}: load and faults over, settling")
    # Long enough for the last jobs' attempts, each cut off at worst once (its lease) and retried.
    lease_s = config.attempt_lease_ms / 1000
    settle_s = max(60.0, plan.seconds / 2) + config.max_attempts * (lease_s + config.retry_max_s)
    dead = _settle(cluster, store, load.jobs, timeout_s=settle_s)
    figures = Figures(plan.name, refused=load.refused, kills=dict(cluster.kills))
    figures.crashes = list(cluster.crashes)
    logs = cluster.logs()
    figures.republished = logs.count("(copy ")
    figures.reruns = logs.count("runs again")
    given_back = set(GIVEN_BACK.findall(logs))
    receipts = receivers.receipts()
    return account(figures, load.jobs, receipts, dead, cluster.worker_kills_ms, given_back)


def _drive(plan: Plan, cluster: Cluster, load: Load) -> None:
    """The load and each kind of fault on its own thread, until all are over; meanwhile start
    again what exits by itself."""
    grid = Grid(now_ms() + LEAD_MS + 500, int(1000 / plan.rate), int(plan.seconds * plan.rate))
    faults = [threading.Thread(target=f, args=(grid,)) for f in _faults(plan, cluster)]
    faults_over = threading.Event()
    threads = [threading.Thread(target=load.run, args=(grid, faults_over)), *faults]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        if not any(thread.is_alive() for thread in faults):
            faults_over.set()
        cluster.supervise()
        time.sleep(0.1)


def _faults(plan: Plan, cluster: Cluster) -> list[Callable[[Grid], None]]:
    """One loop per kind of fault in ``plan``, each on its own thread."""
    loops: list[Callable[[Grid], None]] = []
    workers = cluster.of("worker")
    if plan.worker_kill_every_s:
        act = lambda: kill_and_restart(cluster, workers, plan.down_s, now_ms)  # noqa: E731
        loops.append(_every(plan.worker_kill_every_s, KILL_JITTER_MS, act))
    if plan.beat_kill_every_s:
        beats = cluster.of("beat")
        turn = iter(range(1 << 30))
        act = lambda: kill_and_restart(  # noqa: E731
            cluster, [beats[next(turn) % len(beats)]], plan.down_s, now_ms
        )
        loops.append(_every(plan.beat_kill_every_s, PAUSE_AFTER_CLAIM_MS, act))
    if plan.redis_kill_every_s:
        act = lambda: redis_kill_and_restart(cluster, plan.down_s)  # noqa: E731
        loops.append(_every(plan.redis_kill_every_s, KILL_JITTER_MS, act))
    return loops


def _every(every_s: float, jitter_ms: int, act: Callable[[], None]) -> Callable[[Grid], None]:
    """A loop that runs ``act`` every ``every_s`` on a due instant (plus up to ``jitter_ms``)
    while jobs fall due, MIN_FAULTS times at least; never sooner than MIN_UP_S after the last
    one ended."""

    def loop(grid: Grid) -> None:
        rng = random.Random(every_s)
        planned = grid.first_ms + int(every_s * 1000)
        for done in itertools.count():
            if planned >= grid.last_ms and done >= MIN_FAULTS:
                return
            at = grid.due_at_or_after(planned) + rng.randrange(jitter_ms)
            _sleep_until(at)
            act()
            planned = max(planned + int(every_s * 1000), now_ms() + int(MIN_UP_S * 1000))

    return loop


def _settle(cluster: Cluster, store: Store, jobs: list[Job], timeout_s: float) -> set[str]:
    """Wait until every job's execution is final and nothing is left to re-publish (bounded:
    what is not final by then is counted lost); the dead letters among the jobs."""
    open_ids = {job.execution_id for job in jobs}
    deadline = time.monotonic() + timeout_s
    while open_ids and time.monotonic() < deadline:
        cluster.supervise()
        open_ids = {i for i in open_ids if not (store.execution_state(i) or "").startswith("done")}
        time.sleep(0.3)
    while not _drained(store) and time.monotonic() < deadline:
        cluster.supervise()
        time.sleep(0.3)
    seen = now_ms()  # one more bound of ticks: a copy published meanwhile reaches its worker
    wait_until(lambda: (store.last_beat_ms() or 0) > seen + 2000, what="more beat ticks")
    return {job.execution_id for job in jobs if store.dead_letter(job.execution_id)}


def _drained(store: Store) -> bool:
    """Nothing left to re-publish, and no message (a copy) waiting for a worker."""
    gauges = store.gauges()
    return gauges.published == 0 and gauges.queue_depths["webhooks"] == 0


def _sleep_until(at_ms: int) -> None:
    time.sleep(max(0.0, (at_ms - now_ms()) / 1000))

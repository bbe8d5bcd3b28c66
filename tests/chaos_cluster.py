"""The service a chaos run breaks: its own redis-server (append-only file, fsync on every write
unless told otherwise) on a fixed port and folder, beats and webhooks workers as real processes,
and the faults.

Every process sits in a ``Slot``. A fault kills a slot's process (SIGKILL, the whole process
group) and starts it again after a pause, as an operator's supervisor would; ``supervise()``
starts again any process that exited by itself, and counts it as a crash.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

from shared.embedded_redis import RedisServer, start_redis_server
from tests.support import ProcessGroup, wait_until

RESTART_PAUSE_S = 1.0  # scheduler dev's first pause before it starts a failed process again
READY_TIMEOUT_S = 60.0  # a worker or beat starting on a loaded 2-core machine
# What a process logs once it is up: a worker consumes, a beat ticks (a fault on one process
# waits for it before the next, so a beat is never killed while the other one still starts).
READY_LINES = {"worker": "ready.", "beat": "beat: Starting..."}
# What a process logs when Redis was away as it started (`scheduler worker`'s check; the beat's
# scheduler connects after "Starting...").
START_FAILURES = ("cannot reach Redis", "in setup_schedule")
Starter = Callable[[], "Popen[bytes]"]


@dataclass
class Slot:
    """One process of the service, and how to start it again."""

    role: str  # "beat" | "worker"
    start: Starter
    proc: Popen[bytes]
    lock: threading.Lock = field(default_factory=threading.Lock)
    down: bool = False  # killed on purpose, not yet started again
    exited_at: float | None = None  # when supervise() saw it exit by itself (monotonic)


class Cluster:
    """Redis, ``beats`` beats and ``workers`` webhooks workers, each killable and restartable."""

    def __init__(self, workdir: Path, settings: dict[str, Any], appendfsync: str) -> None:
        self.workdir = workdir
        self.settings = settings
        self.appendfsync = appendfsync
        self.redis_dir = workdir / "redis"
        self.redis = self._start_redis(None)
        self.port = int(self.redis.url.rsplit(":", 1)[1].split("/")[0])
        self.group = ProcessGroup(self.redis.url, workdir)
        self.slots: list[Slot] = []
        self.kills: Counter[str] = Counter()
        self.crashes: list[str] = []
        self.worker_kills_ms: list[int] = []  # when deliveries in flight were cut off
        self.redis_up = threading.Event()
        self.redis_up.set()

    def _start_redis(self, port: int | None) -> RedisServer:
        return start_redis_server(
            self.redis_dir, port, appendonly=True, appendfsync=self.appendfsync
        )

    def start(self, beats: int, workers: int) -> None:
        for _ in range(beats):
            self._add("beat", lambda: self.group.beat(**self.settings))
        for _ in range(workers):
            self._add("worker", lambda: self.group.worker("webhooks", **self.settings))
        for slot in self.slots:
            self.wait_ready(slot)

    def _add(self, role: str, start: Starter) -> None:
        self.slots.append(Slot(role, start, start()))

    def of(self, role: str) -> list[Slot]:
        return [slot for slot in self.slots if slot.role == role]

    def log_of(self, proc: Popen[bytes]) -> Path:
        return self.workdir / f"proc-{self.group.procs.index(proc)}.log"

    def wait_ready(self, slot: Slot) -> None:
        """Until the process says it is up (or exits: the supervisor starts it again)."""
        log, line = self.log_of(slot.proc), READY_LINES[slot.role]
        wait_until(
            lambda: line in log.read_text(errors="replace") or slot.proc.poll() is not None,
            timeout_s=READY_TIMEOUT_S,
            what=f"the {slot.role} of {log.name} up",
        )

    # --- faults --------------------------------------------------------------------------------

    def kill(self, slot: Slot, now_ms: int) -> None:
        with slot.lock:
            with contextlib.suppress(ProcessLookupError):  # it exited by itself meanwhile
                ProcessGroup.kill(slot.proc)
            slot.down = True
        self.kills[slot.role] += 1
        if slot.role == "worker":
            self.worker_kills_ms.append(now_ms)

    def restart(self, slot: Slot) -> None:
        with slot.lock:
            slot.proc, slot.down, slot.exited_at = slot.start(), False, None
        self.wait_ready(slot)

    def kill_redis(self) -> None:
        """SIGKILL: no shutdown, no last fsync; what Redis acknowledged is in its AOF."""
        self.redis_up.clear()
        assert self.redis.process is not None
        self.redis.process.kill()
        self.redis.process.wait()
        self.kills["redis"] += 1

    def restart_redis(self) -> None:
        self.redis = self._start_redis(self.port)  # the same port and files: the same URL
        self.redis_up.set()

    def supervise(self) -> None:
        """Start again, RESTART_PAUSE_S later, whatever exited by itself (as `make run` and
        every supervisor do)."""
        for slot in self.slots:
            with slot.lock:
                code = slot.proc.poll()
                if slot.down or code is None:
                    continue
                if slot.exited_at is None:
                    slot.exited_at = time.monotonic()
                    self.crashes.append(self._exit_note(slot, code))
                if time.monotonic() - slot.exited_at >= RESTART_PAUSE_S:
                    slot.proc, slot.exited_at = slot.start(), None

    def _exit_note(self, slot: Slot, code: int) -> str:
        """Which process exited how, and whether it had come up: one started while Redis is away
        exits at once, by design (a worker 2, a beat 1 when its scheduler cannot connect), and
        its supervisor starts it again."""
        log = self.log_of(slot.proc)
        text = log.read_text(errors="replace")
        up = READY_LINES[slot.role] in text and not any(m in text for m in START_FAILURES)
        return f"{slot.role} {log.name} exited {code} {'while up' if up else 'before it was up'}"

    def logs(self) -> str:
        return self.group.logs()

    def stop(self) -> None:
        self.group.stop_all()
        self.redis.stop()


def kill_and_restart(
    cluster: Cluster, slots: list[Slot], down_s: float, now_ms: Callable[[], int]
) -> None:
    """One fault on ``slots``: SIGKILL them all at once, start them again ``down_s`` later."""
    for slot in slots:
        cluster.kill(slot, now_ms())
    time.sleep(down_s)
    for slot in slots:
        cluster.restart(slot)


def redis_kill_and_restart(cluster: Cluster, down_s: float) -> None:
    cluster.kill_redis()
    time.sleep(down_s)
    cluster.restart_redis()

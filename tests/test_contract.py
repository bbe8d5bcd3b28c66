"""The contract between the beat (and the API) and the workers, checked without a browser or a
worker process: the task names one side publishes are exactly those the other side registers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import beacon_jobs
from shared.contract import (
    BATCH_TASK_BY_TARGET,
    POOLS,
    QUEUE_BY_TARGET,
    TASK_BY_TARGET,
    TargetKind,
    TaskName,
)
from shared.execution import Execution, MalformedExecution, new_execution, retry_payload
from shared.model import OnceTrigger, Schedule, Target

ROOT = Path(__file__).resolve().parent.parent


def registered_by_worker_modules(tmp_path: Path) -> dict[str, str]:
    """Task name -> the module that defines it, as the Celery app has them once the worker
    modules it includes are imported (a fresh process: nothing registered by a test before)."""
    probe = (
        "import importlib, json\n"
        "from shared.celery_app import WORKER_MODULES, app\n"
        "for name in WORKER_MODULES:\n"
        "    importlib.import_module(name)\n"
        "tasks = {n: t.__module__ for n, t in app.tasks.items() if not n.startswith('celery.')}\n"
        "print(json.dumps(tasks))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "REDIS_URL"))}
    # An address nothing listens on: registering tasks must not need a broker.
    env.update(SCHEDULER_DATA_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:9/0")
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    tasks: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return tasks


def published_names() -> set[str]:
    """Every task name the beat or the API puts into a message, read from what they build."""
    names = set()
    for kind in TargetKind:  # a fire, a run on demand, a retry, a redrive: one name per kind
        schedule = Schedule("s", "a", "d", OnceTrigger(at_ms=1), Target(kind, {}), created_ms=0)
        names.add(retry_payload(new_execution(schedule, "s:1", 1, 1).to_message(), 2)["task"])
        names.add(TASK_BY_TARGET[schedule.target.kind])
    names.update(BATCH_TASK_BY_TARGET.values())  # the fires of one tick in one message (beat)
    event = json.loads(beacon_jobs.event_message("a", 1, [{"event": "queued"}]))
    names.add(event["headers"]["task"])  # a beacon job's lifecycle event (the API)
    lease = beacon_jobs.lifecycle._lease(1, {"appkey": "a"}, "b", "run", 0, 60)
    assert lease is not None
    names.add(json.loads(lease[2])["task"])  # a lease check (the beat, at its deadline)
    return names


def test_every_name_published_is_registered_by_a_worker_module_and_vice_versa(
    tmp_path: Path,
) -> None:
    registered = registered_by_worker_modules(tmp_path)
    assert set(registered) == published_names() == set(TaskName)
    # Each task lives in the module its name says (what Flower and the logs show).
    assert {name: name.rpartition(".")[0] for name in registered} == registered


def test_every_target_kind_has_a_pool_and_a_task_and_every_pool_a_kind() -> None:
    assert set(QUEUE_BY_TARGET) == set(TASK_BY_TARGET) == set(TargetKind)
    assert sorted(QUEUE_BY_TARGET.values()) == sorted(POOLS)


def test_an_execution_is_written_as_the_beat_always_wrote_it_and_read_back() -> None:
    target = Target(TargetKind.WEBHOOK, {"url": "https://example.com/", "data": "x"})
    schedule = Schedule("s1", "acct", "webhook_jobs", OnceTrigger(at_ms=1000), target, 1)
    execution = new_execution(schedule, "s1:1000", 1000, 1005, late_ms=5)
    # The body of protocol-2 messages already queued, byte for byte (keys in this order).
    assert json.dumps(execution.to_message(), separators=(",", ":")) == (
        '{"id":"s1:1000","schedule":"s1","account":"acct","dialect":"webhook_jobs",'
        '"due_ms":1000,"claimed_ms":1005,"late_ms":5,"attempt":1,'
        '"target":{"kind":"webhook","spec":{"url":"https://example.com/","data":"x"}}}'
    )
    assert Execution.from_message(execution.to_message()) == execution
    # A body without the optional fields (an older or hand-built message) still reads.
    bare = {k: v for k, v in execution.to_message().items() if k not in ("claimed_ms", "late_ms")}
    assert Execution.from_message(bare).claimed_ms is None
    with pytest.raises(MalformedExecution, match="'target' is not a target"):
        Execution.from_message({**bare, "target": {"kind": "fax", "spec": {}}})

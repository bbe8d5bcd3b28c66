"""Flower counts every attempt in Celery's own terms (succeeded, failed, retried), one task per
attempt even when one message carries a beat tick's fires; bookkeeping tasks stay out of its list;
a failed attempt's log lines name the status, the host and the attempt.

Real parts: the session's Redis, a real beat, real workers (`scheduler worker`: the webhooks pool
on threads, tasks and jobs on prefork), Flower through `scheduler flower`, receivers on 127.0.0.1.
Flower is read through the JSON its own pages load (/tasks/datatable, /workers?json=1).
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from shared.contract import TaskName
from shared.messages import build_message
from shared.model import Schedule, Target
from shared.store import Store
from tests.factories import once, webhook_schedule
from tests.support import HttpReceiver, ProcessGroup, now_ms, wait_until
from tests.test_flower_browser import start_flower, worker_name

TASKS_QUERY = (
    "/tasks/datatable?draw=1&start=0&length=1000&search%5Bvalue%5D=&order%5B0%5D%5Bcolumn%5D=0"
    "&columns%5B0%5D%5Bdata%5D=name&order%5B0%5D%5Bdir%5D=asc"
)
FAST_RETRY = {"max_attempts": 2, "retry_base_s": 0.05, "retry_max_s": 0.1}


def read_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def flower_tasks(base: str) -> dict[str, dict[str, Any]]:
    """Flower's task list, by task id."""
    return {task["uuid"]: task for task in read_json(base + TASKS_QUERY)["data"]}


def flower_counts(base: str, worker: str) -> Counter[str]:
    """The event counts Flower's workers page shows for ``worker``."""
    for info in read_json(f"{base}/workers?json=1")["data"]:
        if info.get("hostname") == worker:
            return Counter({k: v for k, v in info.items() if k.startswith("task-")})
    return Counter()


def states(base: str, ids: list[str]) -> dict[str, str] | None:
    """The state Flower shows for each of ``ids``, once it knows them all."""
    tasks = flower_tasks(base)
    if not all(i in tasks for i in ids):
        return None
    return {i: tasks[i]["state"] for i in ids}


def test_webhook_attempts_each_show_in_flower_as_they_ended(
    store: Store, processes: ProcessGroup
) -> None:
    with HttpReceiver(statuses=[500]) as failing, HttpReceiver() as answering:
        processes.beat(**FAST_RETRY)
        processes.worker("webhooks", **FAST_RETRY)
        worker = worker_name("webhooks", 1)
        base = start_flower(processes)
        wait_until(store.last_beat_ms, what="beat running")
        due = now_ms() + 2000  # one instant for all: the beat sends them as one message
        fails = webhook_schedule(once(due), f"{failing.url}/hook")
        store.put_schedule(fails, due)
        oks = [webhook_schedule(once(due), f"{answering.url}/{n}") for n in range(5)]
        for schedule in oks:
            store.put_schedule(schedule, due)

        fail_ids = [f"{fails.id}:{due}/1", f"{fails.id}:{due}/2"]
        ok_ids = [f"{s.id}:{due}/1" for s in oks]
        wanted = {fail_ids[0]: "RETRY", fail_ids[1]: "FAILURE", **dict.fromkeys(ok_ids, "SUCCESS")}
        wait_until(lambda: states(base, list(wanted)) == wanted, 30, f"Flower to show {wanted}")
        tasks = flower_tasks(base)
        # One task per attempt, none for the message that carried them.
        assert {task["name"] for task in tasks.values()} == {TaskName.WEBHOOK_DELIVER}
        assert len(tasks) == 7, sorted(tasks)
        assert "HTTP 500" in tasks[fail_ids[1]]["exception"]
        counts = flower_counts(base, worker)
        assert (counts["task-received"], counts["task-succeeded"]) == (7, 5), counts
        assert (counts["task-failed"], counts["task-retried"]) == (1, 1), counts

    log = processes.logs()
    assert "attempt 1 to 127.0.0.1: HTTP 500; retry in" in log
    assert "attempt 2 to 127.0.0.1: HTTP 500; dead-lettered" in log


def task_schedule(class_name: str, due_ms: int) -> Schedule:
    return Schedule(
        id="report",
        account="acct",
        dialect="test",
        trigger=once(due_ms),
        target=Target("task", {"class_name": class_name, "data": {}, "name": "Report"}),
        created_ms=due_ms,
    )


def test_prefork_attempts_end_as_their_celery_tasks_and_lease_checks_stay_out(
    store: Store, processes: ProcessGroup, tmp_path: Path
) -> None:
    with HttpReceiver(statuses=[500]) as failing:
        classes = tmp_path / "task-classes.json"
        classes.write_text(json.dumps({"Report": f"{failing.url}/report"}))
        settings = {**FAST_RETRY, "task_classes_file": str(classes)}
        processes.beat(**settings)
        processes.worker("tasks", concurrency=1, **settings)
        processes.worker("jobs", concurrency=1)
        base = start_flower(processes)
        wait_until(store.last_beat_ms, what="beat running")

        check = {"id": "lease:1", "account": "acct", "job": 1, "beacon_name": "b", "kind": "run"}
        message = build_message(TaskName.JOB_LEASE, "lease:1", "jobs", [check])
        store.publish_recorded("lease:1", "jobs", message, now_ms() + 60_000)
        due = now_ms() + 1000
        store.put_schedule(task_schedule("Report", due), due)

        # The beat's ids: the first attempt is the execution's, a retry "<execution>/<n>".
        wanted = {f"report:{due}": "RETRY", f"report:{due}/2": "FAILURE"}
        wait_until(lambda: states(base, list(wanted)) == wanted, 30, f"Flower to show {wanted}")
        wait_until(lambda: store.ledger_deadline("lease:1") is None, 10, "the lease check run")
        # Retried and failed, each message was acknowledged: none waits or goes back.
        wait_until(
            lambda: store.redis.llen("tasks") == 0 and store.redis.hlen("unacked") == 0,
            10,
            "every message acknowledged",
        )
        names = {task["name"] for task in flower_tasks(base).values()}
        assert names == {TaskName.TASK_RUN}, names  # the lease check ran, and is not listed
        assert failing.count() == 2
        counts = flower_counts(base, worker_name("tasks", 1))
        assert (counts["task-failed"], counts["task-retried"]) == (1, 1), counts

    log = processes.logs()
    assert "attempt 2 to task class Report at 127.0.0.1: HTTP 500" in log
    assert "raised expected: AttemptFailed(" in log  # Celery's one line for the failure
    assert "Traceback" not in log

"""Examples of ``/api/jobs`` for the OpenAPI document: requests as the document writes them and
answers as this service gives them (taken from real answers)."""

from __future__ import annotations

import json
from typing import Any

from scheduler_api.openapi.examples import QUOTA_REACHED, RATE_LIMITED, STORE_UNREACHABLE, USERKEY

TASKS = [{"name": "render"}, {"name": "upload"}]
RESULTS = ["rendered", {"url": "https://example.com/report.pdf"}]
ADDED_S = 1796405514
QUEUED = {
    "name": "Render report",
    "beacon_name": "builder-1",
    "q": "1",
    "tasks": json.dumps(TASKS),
}
SCHEDULED = {
    "name": "Nightly sync",
    "schedule": "1",
    "min": "30",
    "hour": "2",
    "dom": "*",
    "month": "*",
    "dow": "*",
    "tasks": json.dumps([{"name": "sync"}]),
}
NEW_JOB = {"queued now, for beacon builder-1": QUEUED, "scheduled, every night at 02:30": SCHEDULED}

JOB: dict[str, Any] = {
    "id": 1,
    "user": USERKEY,
    "name": "Render report",
    "beacon_name": "builder-1",
    "status": "queued",
    "tasks": TASKS,
    "cur_task": None,
    "total_tasks": 2,
    "add_time": ADDED_S,
    "q_time": ADDED_S,
    "pickup_time": None,
    "start_time": None,
    "end_time": None,
    "result": None,
    "duplicate_of": None,
    "schedule": False,
    "schedule_active": None,
}
FINISHED = {
    **JOB,
    "status": "finished",
    "pickup_time": ADDED_S + 2,
    "start_time": ADDED_S + 3,
    "end_time": ADDED_S + 41,
    "result": RESULTS,
}
SCHEDULED_JOB = {
    **JOB,
    "id": 2,
    "name": "Nightly sync",
    "beacon_name": "default",
    "status": "scheduled",
    "tasks": [{"name": "sync"}],
    "total_tasks": 1,
    "q_time": None,
    "schedule": True,
    "schedule_active": True,
    **{name: SCHEDULED[name] for name in ("min", "hour", "dom", "month", "dow")},
    "start_date": None,
    "end_date": None,
}
SCHEDULED_LIST = [{"id": 2, "name": "Nightly sync", "active": True, "next_time": 1796437800}]
HISTORY = [
    {"event": "created", "time": ADDED_S, "status": "queued", "q_time": ADDED_S},
    {"event": "picked_up", "time": ADDED_S + 2, "beacon_name": "builder-1"},
    {"event": "started", "time": ADDED_S + 3},
    {"event": "finished", "time": ADDED_S + 41, "results": 2},
    {"event": "result", "time": ADDED_S + 41, "task": 0, "result": RESULTS[0]},
    {"event": "result", "time": ADDED_S + 41, "task": 1, "result": RESULTS[1]},
]
CHANGES = {
    "update: the task now running": {"curtask": "1"},
    "update: pause a scheduled job": {"schedule_active": "false"},
}
READ_ACTIONS = {name: name for name in ("show", "pickup", "history")}
CHANGE_ACTIONS = {name: name for name in ("update", "pickup", "start", "end")}


def error(message: str) -> dict[str, str]:
    return {"error": message}


ERRORS = {
    400: error("q_time: must be a unix timestamp (whole seconds)"),
    401: error("userkey is not valid"),
    403: error(QUOTA_REACHED),
    404: error("no job 999"),
    405: error("action=start needs POST"),
    409: error("job 1 is started: only a picked up job can be started"),
    413: error("body is larger than 1048576 bytes"),
    429: error(RATE_LIMITED),
    503: error(STORE_UNREACHABLE),
}

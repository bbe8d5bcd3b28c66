"""The baseline a user would build instead of this service: Celery ``apply_async(eta=...)`` of a
task that POSTs with ``requests``, run by a prefork worker of 2 processes (bench/delivery.py).

``celery -A bench.baseline_app worker -Q baseline -c 2`` with ``BASELINE_BROKER`` set.
"""

from __future__ import annotations

import os

import requests
from celery import Celery

app = Celery("baseline", broker=os.environ.get("BASELINE_BROKER", "redis://127.0.0.1:6379/1"))
app.conf.update(
    task_acks_late=True,
    task_ignore_result=True,
    task_default_queue="baseline",
    worker_hijack_root_logger=False,
    broker_transport_options={"visibility_timeout": 3600},
)
_session = requests.Session()


@app.task(name="baseline.post", acks_late=True, ignore_result=True)
def post(url: str, bench_id: str) -> int:
    response = _session.post(url, data=b"{}", headers={"x-bench-id": bench_id}, timeout=(5, 15))
    return response.status_code

"""A real Prometheus (Debian's prometheus package) scrapes a real API, beat and worker with
deploy/monitoring's alert rules loaded: every dashboard query answers series, and of the alerts
only the one that should fires: a dead letter (a worker's counter born at it, which increase()
alone would miss)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from shared.store import Store
from tests.monitoring_support import (
    ALERTS,
    Prometheus,
    dashboard_queries,
    fire_deliver_retry_and_dead_letter,
)
from tests.support import HttpReceiver, ProcessGroup, ServedApp, wait_until


@pytest.mark.e2e
def test_prometheus_answers_every_query_and_fires_only_the_dead_letter_alert(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
    tmp_path: Path,
) -> None:
    counted = fire_deliver_retry_and_dead_letter(local_api, store, processes, receiver)
    api, _ = local_api
    with ServedApp(api.application) as served:
        targets = [
            served.url.removeprefix("http://"),
            f"127.0.0.1:{counted.beat_port}",
            f"127.0.0.1:{counted.worker_port}",
        ]
        with Prometheus(tmp_path, targets, ALERTS) as prometheus:
            wait_until(prometheus.targets_up, what="API, beat and worker scraped")
            for query in dashboard_queries():
                wait_until(lambda q=query: prometheus.query(q), what=f"series for {query}")
            firing = wait_until(
                lambda: (f := prometheus.firing()).get("SchedulerDeadLettersGrowing") and f,
                what="the dead letter alert firing",
            )
            # the API's own queries answer too: the beat is fresh, Redis up
            assert prometheus.query("max(scheduler_beat_heartbeat_age_seconds) < 30")
            assert prometheus.query("max(scheduler_redis_up) == 1")
    assert [a["pool"] for a in firing["SchedulerDeadLettersGrowing"]] == ["webhooks"]
    assert set(firing) == {"SchedulerDeadLettersGrowing"}, firing

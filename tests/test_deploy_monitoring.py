"""deploy/monitoring: the Grafana dashboard and the Prometheus alert rules load, their PromQL
parses (promtool), the alerts fire when they should (promtool's rule unit tests,
alerts.test.yaml), and every series they name is one that a real API, beat and worker serve on
``/metrics`` once they fired, delivered, retried and dead-lettered."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskClient

from shared.store import Store
from tests.monitoring_support import (
    ALERTS,
    MONITORING,
    alert_rules,
    dashboard,
    dashboard_queries,
    every_query,
    fire_deliver_retry_and_dead_letter,
    installed,
)
from tests.support import HttpReceiver, ProcessGroup, ServedApp
from tests.test_metrics import Samples, scrape

METRIC = re.compile(r"\b(scheduler_[a-z0-9_]+)\b(?:\{([^}]*)\})?")
BY_CLAUSE = re.compile(r"\b(?:by|on)\s*\(([^)]*)\)")


# --- the files load and say what they must ----------------------------------------------------


def test_the_dashboard_covers_fires_lag_attempts_retries_dead_letters_depth_and_beat() -> None:
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    named = {m[0] for q in dashboard_queries() for m in METRIC.findall(q)}
    assert {
        "scheduler_fires_dispatched_total",
        "scheduler_fire_publish_lag_seconds_bucket",
        "scheduler_fire_delivery_lag_seconds_bucket",
        "scheduler_attempts_finished_total",
        "scheduler_retries_total",
        "scheduler_dead_letters_total",
        "scheduler_queue_depth",
        "scheduler_beat_heartbeat_age_seconds",
    } <= named


def test_the_alerts_watch_the_beat_lag_dead_letters_and_queues() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert {
        "SchedulerBeatDown",
        "SchedulerPublishLagHigh",
        "SchedulerDeadLettersGrowing",
        "SchedulerQueueBackingUp",
    } <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"], name


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    tool = installed("promtool")
    for argv in (["check", "rules", ALERTS.name], ["test", "rules", "alerts.test.yaml"]):
        done = subprocess.run(
            [tool, *argv], cwd=MONITORING, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses recording rules' expressions as Prometheus would parse a query."""
    tool = installed("promtool")
    records = [
        {"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    done = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- against real scrapes -----------------------------------------------------------------------


@pytest.mark.e2e
def test_every_series_named_is_served_by_the_running_processes(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
) -> None:
    counted = fire_deliver_retry_and_dead_letter(local_api, store, processes, receiver)
    api, _ = local_api
    with ServedApp(api.application) as served:
        api_scrape = scrape(int(served.url.rsplit(":", 1)[1]))
    served_labels = labels_by_name({**api_scrape, **counted.beat, **counted.worker})

    for query in every_query():
        named = METRIC.findall(query)
        for name, matchers in named:
            assert name in served_labels, f"{name} (in {query!r}) is served by no process"
            for label in re.findall(r"(\w+)\s*[=!]~?", matchers):
                assert label in served_labels[name], f"{name} has no label {label}: {query!r}"
        known = {"le"}.union(*(served_labels[name] for name, _ in named))
        for clause in BY_CLAUSE.findall(query):
            grouped = {label.strip() for label in clause.split(",") if label.strip()}
            assert grouped <= known, f"{grouped - known} is no label of {query!r}"


def labels_by_name(samples: Samples) -> dict[str, set[str]]:
    labels: dict[str, set[str]] = {}
    for name, pairs in samples:
        labels.setdefault(name, set()).update(label for label, _ in pairs)
    return labels

"""deploy/monitoring: the Grafana dashboard and the Prometheus alert rules load, their PromQL
parses (promtool), the alerts fire when they should (promtool's rule unit tests,
alerts.test.yaml), and every series they name is one that a real API, beat and worker serve on
``/metrics`` once they fired, delivered, retried and dead-lettered."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from shared.contract import POOLS
from shared.store import Store
from tests.support import HttpReceiver, ProcessGroup, ServedApp, free_port, now_ms, wait_until
from tests.test_metrics import Samples, create_when_job, get_metrics, scrape

MONITORING = Path(__file__).resolve().parent.parent / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
METRIC = re.compile(r"\b(scheduler_[a-z0-9_]+)\b(?:\{([^}]*)\})?")
BY_CLAUSE = re.compile(r"\b(?:by|on)\s*\(([^)]*)\)")
# Grafana's variables, as a query is sent with the dashboard's defaults.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$pool": ".*"}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[str]:
    """Every panel's queries and the variables' queries, as Prometheus receives them."""
    board = dashboard()
    queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    queries += [
        as_promql(v["definition"]) for v in board["templating"]["list"] if v["type"] == "query"
    ]
    return [substitute(q) for q in queries]


def as_promql(variable_query: str) -> str:
    """A variable's ``label_values(metric, label)`` (Grafana's, not PromQL) as the PromQL that
    asks the same: which values ``label`` takes on ``metric``."""
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable_query)
    assert match, f"a variable query this test does not know: {variable_query}"
    return f"count by ({match[2]}) ({match[1]})"


def substitute(query: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        query = query.replace(name, value)
    return query


def every_query() -> list[str]:
    return [rule["expr"] for rule in alert_rules()] + dashboard_queries()


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (`make promtool`: Debian's prometheus package)")
    return found


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
    tool = promtool()
    for argv in (["check", "rules", ALERTS.name], ["test", "rules", "alerts.test.yaml"]):
        done = subprocess.run(
            [tool, *argv], cwd=MONITORING, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses recording rules' expressions as Prometheus would parse a query."""
    tool = promtool()
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
    api, creds = local_api
    beat_port, webhooks_port = free_port(), free_port()
    processes.beat(beat_metrics_port=beat_port)
    processes.worker(
        "webhooks",
        worker_metrics_port=webhooks_port - POOLS.index("webhooks"),
        max_attempts=2,
        retry_base_s=0.05,
    )
    wait_until(store.last_beat_ms, what="beat running")
    wait_until(lambda: get_metrics(webhooks_port), what="the worker's metrics endpoint")
    with HttpReceiver(statuses=[503]) as failing:
        create_when_job(api, creds, receiver.url + "/ok", now_ms() + 200)
        create_when_job(api, creds, failing.url + "/fails", now_ms() + 200)
        worker = wait_until(
            lambda: scrape_having(webhooks_port, WORKER_EVENTS),
            what="a delivery, a retry and a dead letter counted",
        )
    beat = wait_until(
        lambda: scrape_having(beat_port, ["scheduler_fires_dispatched_total"]),
        what="the beat counting the fires",
    )
    with ServedApp(api.application) as served:
        api_scrape = scrape(int(served.url.rsplit(":", 1)[1]))
    served_labels = labels_by_name({**api_scrape, **beat, **worker})

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


WORKER_EVENTS = (
    "scheduler_fire_delivery_lag_seconds_bucket",
    "scheduler_retries_total",
    "scheduler_dead_letters_total",
)


def scrape_having(port: int, names: Iterable[str]) -> Samples | None:
    """The samples served on ``port`` once they include every one of ``names``."""
    samples = scrape(port)
    served = {name for name, _ in samples}
    return samples if served.issuperset(names) else None


def labels_by_name(samples: Samples) -> dict[str, set[str]]:
    labels: dict[str, set[str]] = {}
    for name, pairs in samples:
        labels.setdefault(name, set()).update(label for label, _ in pairs)
    return labels

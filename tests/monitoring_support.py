"""What the deploy/monitoring tests share: the dashboard's and the rules' queries as Prometheus
receives them, traffic that makes a beat and a worker count every kind of event the files watch,
and a real Prometheus server (Debian's prometheus package) scraping them on 127.0.0.1."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from flask.testing import FlaskClient

from shared.contract import POOLS
from shared.store import Store
from tests.support import HttpReceiver, ProcessGroup, free_port, now_ms, wait_until
from tests.test_metrics import Samples, create_when_job, get_metrics, scrape

MONITORING = Path(__file__).resolve().parent.parent / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
# Grafana's variables, as a query is sent with the dashboard's defaults.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$pool": ".*"}
WORKER_EVENTS = (
    "scheduler_fire_delivery_lag_seconds_bucket",
    "scheduler_retries_total",
    "scheduler_dead_letters_total",
)


# --- the files' queries --------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


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


def installed(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed (`make promtool`: Debian's prometheus package)")
    return found


# --- traffic -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """Where the beat and the worker serve their metrics, and what they served once counted."""

    beat_port: int
    worker_port: int
    beat: Samples
    worker: Samples


def fire_deliver_retry_and_dead_letter(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
) -> Counted:
    """A beat and a webhooks worker with metrics on; one job delivered, one retried once and
    dead-lettered; back when both processes count them."""
    api, creds = local_api
    beat_port, worker_port = free_port(), free_port()
    processes.beat(beat_metrics_port=beat_port)
    processes.worker(
        "webhooks",
        worker_metrics_port=worker_port - POOLS.index("webhooks"),
        max_attempts=2,
        retry_base_s=0.05,
    )
    wait_until(store.last_beat_ms, what="beat running")
    wait_until(lambda: get_metrics(worker_port), what="the worker's metrics endpoint")
    with HttpReceiver(statuses=[503]) as failing:
        create_when_job(api, creds, receiver.url + "/ok", now_ms() + 200)
        create_when_job(api, creds, failing.url + "/fails", now_ms() + 200)
        worker = wait_until(
            lambda: scrape_having(worker_port, WORKER_EVENTS),
            what="a delivery, a retry and a dead letter counted",
        )
    beat = wait_until(
        lambda: scrape_having(beat_port, ["scheduler_fires_dispatched_total"]),
        what="the beat counting the fires",
    )
    return Counted(beat_port, worker_port, beat, worker)


def scrape_having(port: int, names: tuple[str, ...] | list[str]) -> Samples | None:
    """The samples served on ``port`` once they include every one of ``names``."""
    samples = scrape(port)
    served = {name for name, _ in samples}
    return samples if served.issuperset(names) else None


# --- a real Prometheus ---------------------------------------------------------------------------


class Prometheus:
    """A Prometheus server on 127.0.0.1 scraping ``targets`` every second and evaluating
    ``rules`` every second, its data in ``workdir``."""

    def __init__(self, workdir: Path, targets: list[str], rules: Path) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "scheduler", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.argv = [
            installed("prometheus"),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.log = workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ready, timeout_s=30, what="prometheus ready")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def firing(self) -> dict[str, list[dict[str, str]]]:
        """The labels of every firing alert, by alert name."""
        alerts: dict[str, list[dict[str, str]]] = {}
        for alert in self.api("alerts")["alerts"]:
            if alert["state"] == "firing":
                alerts.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
        return alerts

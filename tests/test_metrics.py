"""Prometheus metrics of the beat, a worker and the API, and the health endpoints, against real
processes and a real Redis."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from scheduler_api.app import create_app
from shared import metrics
from shared.config import Config
from shared.contract import POOLS
from shared.embedded_redis import start_redis_server
from shared.store import Store
from tests.support import HttpReceiver, ProcessGroup, basic, free_port, iso, now_ms, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(port: int) -> Samples:
    """The samples a process serves on ``port`` ({} while it does not answer yet)."""
    return samples(answer.text) if (answer := get_metrics(port)) is not None else {}


def get_metrics(port: int) -> requests.Response | None:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except requests.ConnectionError:
        return None
    return answer if answer.status_code == 200 else None


def create_when_job(api: FlaskClient, creds: dict[str, str], url: str, at_ms: int) -> str:
    answer = api.post(
        "/1/jobs",
        data=json.dumps({"url": url, "when": iso(at_ms)}),
        headers={**basic(creds), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def test_beat_and_worker_count_a_fire_and_its_lag(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
) -> None:
    api, creds = local_api
    beat_port, webhooks_port = free_port(), free_port()
    processes.beat(beat_metrics_port=beat_port)
    # A worker serves on the base port plus its pool's index: webhooks is POOLS[1].
    base = webhooks_port - POOLS.index("webhooks")
    processes.worker("webhooks", worker_metrics_port=base)
    wait_until(store.last_beat_ms, what="beat running")
    wait_until(lambda: get_metrics(webhooks_port), what="the worker's metrics endpoint")

    create_when_job(api, creds, receiver.url + "/cb", now_ms() + 300)
    wait_until(lambda: receiver.count() == 1, what="the callback")

    queue = (("queue", "webhooks"),)
    beat = wait_until(
        lambda: (s := scrape(beat_port)).get(("scheduler_fires_dispatched_total", queue)) and s,
        what="the beat counting the fire",
    )
    assert beat[("scheduler_fires_dispatched_total", queue)] == 1
    assert beat[("scheduler_fire_publish_lag_seconds_count", queue)] == 1
    # published after it was due, but not by much
    assert 0 <= beat[("scheduler_fire_publish_lag_seconds_sum", queue)] < 5

    pool = (("pool", "webhooks"),)
    # The attempt ran in a pool child process; the parent serves what its children recorded.
    worker = wait_until(
        lambda: (
            (s := scrape(webhooks_port)).get(("scheduler_fire_delivery_lag_seconds_count", pool))
            and s
        ),
        what="the worker observing the delivery lag",
    )
    assert worker[("scheduler_fire_delivery_lag_seconds_count", pool)] >= 1
    succeeded = (("pool", "webhooks"), ("status", "succeeded"))
    assert worker[("scheduler_attempts_finished_total", succeeded)] == 1
    assert worker.get(("scheduler_dead_letters_total", pool), 0) == 0


def test_worker_counts_retries_and_dead_letters(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
) -> None:
    api, creds = local_api
    webhooks_port = free_port()
    base = webhooks_port - POOLS.index("webhooks")
    processes.beat()
    processes.worker("webhooks", worker_metrics_port=base, max_attempts=2, retry_base_s=0.05)
    wait_until(store.last_beat_ms, what="beat running")
    pool = (("pool", "webhooks"),)
    with HttpReceiver(statuses=[503]) as failing:
        create_when_job(api, creds, failing.url + "/cb", now_ms() + 200)
        worker = wait_until(
            lambda: (s := scrape(webhooks_port)).get(("scheduler_dead_letters_total", pool)) and s,
            what="the dead letter counted",
        )
    assert failing.count() == 2
    assert worker[("scheduler_retries_total", pool)] == 1
    assert worker[("scheduler_dead_letters_total", pool)] == 1
    assert worker.get(("scheduler_fire_delivery_lag_seconds_count", pool), 0) == 0


def test_api_metrics_show_queue_depth_and_schedules_stored(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
) -> None:
    api, creds = local_api
    create_when_job(api, creds, receiver.url + "/soon", now_ms() + 200)
    create_when_job(api, creds, receiver.url + "/later", now_ms() + 3_600_000)
    before = samples(api.get("/metrics").get_data(as_text=True))
    assert before[("scheduler_redis_up", ())] == 1
    assert before[("scheduler_schedules_stored", ())] == 2
    assert before[("scheduler_schedules_due_index", ())] == 2
    assert {before[("scheduler_queue_depth", (("pool", p),))] for p in POOLS} == {0}

    processes.beat()  # no worker: the fire waits in the webhooks queue
    after = wait_until(
        lambda: (
            (s := samples(api.get("/metrics").get_data(as_text=True))).get(
                ("scheduler_queue_depth", (("pool", "webhooks"),))
            )
            and s
        ),
        what="the fire queued",
    )
    assert after[("scheduler_queue_depth", (("pool", "webhooks"),))] == 1
    assert after[("scheduler_queue_depth", (("pool", "push"),))] == 0
    # the fired "when" job is purged; the later one stays due
    assert after[("scheduler_schedules_stored", ())] == 1
    assert after[("scheduler_schedules_due_index", ())] == 1
    assert 0 <= after[("scheduler_beat_heartbeat_age_seconds", ())] < 5


def test_worker_port_adds_the_pool_index() -> None:
    config = Config.from_env({}, worker_metrics_port=9102)
    assert [metrics.worker_port(config, [pool]) for pool in POOLS] == [9102, 9103, 9104, 9105]
    assert metrics.worker_port(Config.from_env({}), ["webhooks"]) == 0


def test_metrics_ports_are_validated() -> None:
    with pytest.raises(Exception, match="SCHEDULER_BEAT_METRICS_PORT"):
        Config.from_env({"SCHEDULER_BEAT_METRICS_PORT": "70000"})


# --- health endpoints ------------------------------------------------------------------------


def test_healthz_and_readyz_with_a_fresh_beat(config: Config, store: Store) -> None:
    client = create_app(config).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    stale = client.get("/readyz")
    assert stale.status_code == 503  # no beat has ticked yet
    assert stale.get_json()["beat_fresh"] is False
    store.claim(now_ms(), 1000, 1, "token")  # a beat tick: it writes the heartbeat
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok", "redis": "ok", "beat_fresh": True}


@pytest.mark.e2e  # its own redis-server, stopped under the app
def test_readyz_is_503_when_redis_is_gone(tmp_path: Path) -> None:
    server = start_redis_server(tmp_path / "redis")
    config = Config.from_env({}, redis_url=server.url, data_dir=str(tmp_path))
    client = create_app(config).test_client()
    server.stop()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["status"] == "unavailable"
    assert "Traceback" not in answer.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # the process itself is still up
    scrape_ = samples(client.get("/metrics").get_data(as_text=True))
    assert scrape_ == {("scheduler_redis_up", ()): 0}


def test_a_taken_metrics_port_is_reported_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert metrics.serve(port, "127.0.0.1") is False
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text

"""Redis SIGKILLed and restarted twice under load, through the real API, beat and webhooks
worker (each a ``scheduler`` process, as ``make run`` starts them), with a receiver on
127.0.0.1.

Redis keeps an append-only file fsynced on every write, so each job the API acknowledged
survives the kill. Must hold: the processes ride both restarts out (none exits), every
acknowledged job is delivered exactly once (by ``webhook-id``), and what the API answered while
Redis was down is the dialect's 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from scheduler_api.adapter import STORE_DOWN
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.embedded_redis import RedisServer, start_redis_server
from shared.store import Store
from tests.support import (
    UNLIMITED,
    HttpReceiver,
    ProcessGroup,
    basic,
    free_port,
    iso,
    now_ms,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LOAD_S = 16.0  # jobs are created this long, one every PACE_S, each due a second later
PACE_S = 0.05
KILLS_AT_S = (4.0, 10.0)  # Redis is SIGKILLed then, and started again DOWN_S later
DOWN_S = 1.0


@dataclass
class Load:
    """What the API answered to the stream of job creations."""

    acked: list[str] = field(default_factory=list)
    refused: list[requests.Response] = field(default_factory=list)  # the 503s
    unexpected: list[str] = field(default_factory=list)

    def run(self, base: str, creds: dict[str, str], callback: str, until: float) -> None:
        session = requests.Session()
        while time.monotonic() < until:
            doc = {"url": callback, "data": "x", "when": iso(now_ms() + 1000)}
            try:
                answer = session.post(
                    f"{base}/1/jobs",
                    data=json.dumps(doc),
                    headers={**basic(creds), "Content-Type": "application/json"},
                    timeout=15,
                )
            except requests.RequestException as exc:
                self.unexpected.append(repr(exc))
            else:
                self.record(answer)
            time.sleep(PACE_S)

    def record(self, answer: requests.Response) -> None:
        if answer.status_code == 200:
            self.acked.append(answer.text)
        elif answer.status_code == 503:
            self.refused.append(answer)
        else:
            self.unexpected.append(f"{answer.status_code} {answer.text[:200]}")


Processes = dict[str, subprocess.Popen[bytes]]


def start_service(group: ProcessGroup, api_port: int) -> Processes:
    unlimited = {name: "" for name in UNLIMITED}
    api = group.start(["scheduler_cli.main", "api"], api_port=api_port, **unlimited)
    beat = group.start(["scheduler_cli.main", "beat"])
    worker = group.start(
        ["scheduler_cli.main", "worker", "--pool", "webhooks", "--concurrency", "2"]
    )
    return {"api": api, "beat": beat, "worker": worker}


def assert_running(processes: Processes, group: ProcessGroup) -> None:
    exited = {name: p.poll() for name, p in processes.items() if p.poll() is not None}
    assert exited == {}, f"exited (name: code): {exited}\n{group.logs()[-4000:]}"


def api_up(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def test_redis_restarted_twice_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "redis"
    server = start_redis_server(directory, appendonly=True, appendfsync="always")
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    group = ProcessGroup(server.url, tmp_path)
    config = Config.from_env({}, redis_url=server.url, data_dir=str(tmp_path))
    store = Store.from_url(server.url, config.key_prefix)
    creds = create_account(store, "outage", secret_key=load_secret_key(config), now_ms=now_ms())
    base = f"http://127.0.0.1:{free_port()}"
    try:
        with HttpReceiver() as receiver:
            processes = start_service(group, int(base.rsplit(":", 1)[1]))
            wait_until(lambda: api_up(base), 30, "the API")
            wait_until(lambda: "ready." in group.logs(), 30, "the worker")
            wait_until(store.last_beat_ms, 30, "the beat")
            load = Load()
            loader = threading.Thread(
                target=load.run,
                args=(base, creds, receiver.url + "/cb", time.monotonic() + LOAD_S),
            )
            loader.start()
            server = kill_and_restart(server, directory, port)
            loader.join(timeout=LOAD_S + 30)

            def all_delivered() -> bool:
                assert_running(processes, group)  # a process that died fails at once
                return set(load.acked) <= delivered_jobs(receiver)

            wait_until(all_delivered, 45, "every acknowledged job")
            assert_running(processes, group)
            assert_delivered_once(receiver, load)
    finally:
        group.stop_all()
        server.stop()


def kill_and_restart(server: RedisServer, directory: Path, port: int) -> RedisServer:
    """SIGKILL Redis at each of KILLS_AT_S (no shutdown, no final fsync) and start it again on
    its port and its files DOWN_S later."""
    started = time.monotonic()
    for kill_at in KILLS_AT_S:
        time.sleep(max(0.0, started + kill_at - time.monotonic()))
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        time.sleep(DOWN_S)
        server = start_redis_server(directory, port=port, appendonly=True, appendfsync="always")
    return server


def assert_delivered_once(receiver: HttpReceiver, load: Load) -> None:
    ids = Counter(hit_id(hit.headers) for hit in list(receiver.requests))
    per_job = Counter(webhook_id.split(":")[0] for webhook_id in ids)
    print(
        f"\njobs acknowledged {len(load.acked)}, delivered {len(per_job)}, "
        f"503s {len(load.refused)}, duplicates {sum(n - 1 for n in ids.values())}"
    )
    assert load.unexpected == []
    assert len(load.refused) >= len(KILLS_AT_S)  # the API answered during each outage
    for answer in load.refused:
        assert answer.json() == {"error": STORE_DOWN}
        assert answer.headers["Retry-After"] == "5"
    assert [webhook_id for webhook_id, n in ids.items() if n > 1] == []
    assert [job for job, n in per_job.items() if n > 1] == []


def hit_id(headers: dict[str, str]) -> str:
    return next(v for k, v in headers.items() if k.lower() == "webhook-id")


def delivered_jobs(receiver: HttpReceiver) -> set[str]:
    return {hit_id(hit.headers).split(":")[0] for hit in list(receiver.requests)}

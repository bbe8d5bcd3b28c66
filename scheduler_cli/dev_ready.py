"""When is each process of ``scheduler dev`` really ready? A probe per child, asked in turn by the
supervisor until it says yes: the API and Flower answer HTTP, the beat has ticked (its heartbeat
in Redis is newer than its start), a worker answers a Celery ping addressed to its node name.

Each probe is quick (a short timeout) and never raises: "not yet" is False.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

import requests
from celery import Celery

from shared.config import Config
from shared.contract import POOLS
from shared.service_urls import browsable_host
from shared.store import Store
from shared.timing import now_ms

Probe = Callable[[], bool]
HTTP_TIMEOUT_S = 0.5
PING_TIMEOUT_S = 0.3  # a worker that is up answers in milliseconds


def service_probes(config: Config, redis_url: str) -> dict[str, Probe]:
    """A probe for each child of ``service_children``, by name."""
    host = f"http://{browsable_host(config)}"
    store = Store.from_url(
        redis_url, config.key_prefix, timeout_s=1.0, partitions=config.partitions
    )
    control = Celery("scheduler-dev", broker=redis_url)  # pings only: no task, no settings
    probes = {
        "api": http_ok(f"{host}:{config.api_port}/healthz"),
        "beat": beat_ticked(store, since_ms=now_ms()),
        "flower": http_ok(f"{host}:{config.flower_port}/healthcheck"),
    }
    for pool in POOLS:
        probes[f"worker-{pool}"] = worker_answers(control, f"{pool}@{socket.gethostname()}")
    return probes


def http_ok(url: str) -> Probe:
    def probe() -> bool:
        try:
            return requests.get(url, timeout=HTTP_TIMEOUT_S).status_code == 200
        except requests.RequestException:
            return False

    return probe


def beat_ticked(store: Store, since_ms: int) -> Probe:
    def probe() -> bool:
        with contextlib.suppress(Exception):  # Redis away for a moment: not yet
            last = store.last_beat_ms()
            return last is not None and last >= since_ms
        return False

    return probe


def worker_answers(control: Celery, node: str) -> Probe:
    """The worker's node name (``POOL@HOST``, as ``scheduler worker`` names it) answers a ping:
    its consumer is running."""

    def probe() -> bool:
        with contextlib.suppress(Exception):  # the broker connection failing: not yet
            return bool(control.control.ping(destination=[node], timeout=PING_TIMEOUT_S))
        return False

    return probe

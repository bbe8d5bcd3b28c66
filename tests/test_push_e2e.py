"""/v4/schedules end to end: the API writes, a real beat and push worker deliver to a fake push
gateway on 127.0.0.1, and the gateway's msg ids come back through ``msg-ids``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from shared import push
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.fake_push_gateway import FakePushGateway
from tests.push_support import CREATE_EXAMPLE, example
from tests.support import ProcessGroup, basic, now_ms, wait_until
from tests.test_cli import scheduler


@pytest.fixture
def gateway() -> Iterator[FakePushGateway]:
    with FakePushGateway() as server:
        yield server


@pytest.fixture
def secret_key(tmp_path: Path) -> bytes:
    """The key the API, the CLI and the worker processes all derive from (same data dir)."""
    return load_secret_key(Config.from_env({}, data_dir=str(tmp_path)))


def soon(zone: str, seconds: int = 3) -> tuple[str, int]:
    """A wall time ``seconds`` from now in ``zone`` (whole seconds), and its instant."""
    local = (datetime.now(ZoneInfo(zone)) + timedelta(seconds=seconds)).replace(microsecond=0)
    return local.strftime("%Y-%m-%d %H:%M:%S"), int(local.timestamp() * 1000)


def start(processes: ProcessGroup, store: Store, gateway: FakePushGateway, **settings: Any) -> None:
    processes.beat()
    processes.worker("push", push_gateway_url=gateway.url, **settings)
    wait_until(store.last_beat_ms, what="beat running")


def msg_ids(api: FlaskClient, creds: dict[str, str], sid: str) -> dict[str, Any]:
    return api.get(f"/v4/schedules/{sid}/msg-ids", headers=basic(creds)).get_json()


def test_zone_type_1_is_pushed_at_the_accounts_wall_time_with_its_msg_id_listed(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    gateway: FakePushGateway,
    clean_redis: str,
    tmp_path: Path,
    secret_key: bytes,
) -> None:
    api, _ = local_api
    creds = create_account(store, "india", "Asia/Kolkata", secret_key=secret_key, now_ms=now_ms())
    cli = scheduler(
        "push-credentials",
        creds["appkey"],
        "--key",
        gateway.key,
        "--secret",
        gateway.secret,
        REDIS_URL=clean_redis,
        SCHEDULER_DATA_DIR=str(tmp_path),
    )
    assert cli.returncode == 0, cli.stderr
    start(processes, store, gateway)
    when, at_ms = soon("Asia/Kolkata")
    body = example(CREATE_EXAMPLE, when)
    created = api.post(
        "/v4/schedules", data=body, headers={**basic(creds), "Content-Type": "application/json"}
    )
    assert created.status_code == 200, created.get_data(as_text=True)
    sid = created.get_json()["schedule_id"]

    wait_until(lambda: gateway.delivered(), what="the push")
    hit = gateway.delivered()[0]
    assert hit.path == "/v4/push" and hit.auth == (gateway.key, gateway.secret)
    assert hit.body == json.loads(body)["push"]  # request_id and custom_args passed through
    assert at_ms <= hit.at_ms < at_ms + 5000
    listed = wait_until(lambda: msg_ids(api, creds, sid)["count"] == 1 and msg_ids(api, creds, sid))
    assert listed == {"count": 1, "msgids": [hit.msg_id]}
    # sent: the schedule is gone (28104), its msg ids stay readable, the run recorded them
    wait_until(
        lambda: api.get(f"/v4/schedules/{sid}", headers=basic(creds)).status_code == 404,
        what="the purge",
    )
    assert msg_ids(api, creds, sid)["msgids"] == [hit.msg_id]
    runs = store.history(sid)
    assert [(r.status, r.result["msg_ids"]) for r in runs] == [("succeeded", [hit.msg_id])]
    assert api.get("/v4/schedules", headers=basic(creds)).get_json()["total_count"] == 0
    assert len(gateway.requests) == 1


def test_zone_type_2_fires_once_per_zone_to_that_zones_devices_only(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    gateway: FakePushGateway,
    secret_key: bytes,
) -> None:
    api, _ = local_api
    creds = create_account(store, "india", "Asia/Kolkata", secret_key=secret_key, now_ms=now_ms())
    push.set_credentials(store, secret_key, creds["appkey"], gateway.key, gateway.secret)
    devices = {"np1": "Asia/Kathmandu", "in2": "Asia/Kolkata", "np2": "Asia/Kathmandu"}
    for rid, zone in devices.items():
        api.put(f"/v4/devices/{rid}", json={"timezone": zone}, headers=basic(creds))
    start(processes, store, gateway)
    # Kathmandu (+05:45) reaches the wall time 15 minutes before Kolkata (+05:30, the account's
    # zone, which the unregistered device follows).
    when, kathmandu_at = soon("Asia/Kathmandu")
    kolkata_at = kathmandu_at + 15 * 60 * 1000
    doc = json.loads(example(CREATE_EXAMPLE, when))
    doc["trigger"]["single"]["zone_type"] = 2
    doc["push"]["to"] = {"registration_id": ["np1", "in1", "in2", "np2"]}
    created = api.post("/v4/schedules", json=doc, headers=basic(creds))
    assert created.status_code == 200, created.get_data(as_text=True)
    sid = created.get_json()["schedule_id"]

    wait_until(lambda: gateway.delivered(), what="the Kathmandu push")
    first = gateway.delivered()[0]
    assert first.body["to"] == {"registration_id": ["np1", "np2"]}
    assert kathmandu_at <= first.at_ms < kathmandu_at + 5000
    assert {k: v for k, v in first.body.items() if k != "to"} == {
        k: v for k, v in doc["push"].items() if k != "to"
    }
    wait_until(lambda: store.next_fire_ms(sid) == kolkata_at, what="the Kolkata fire planned")

    # Let the 15 minutes pass in no time: the Kolkata fire becomes due now.
    store.redis.zadd(store.keys.due(), {sid: now_ms()})
    wait_until(lambda: len(gateway.delivered()) == 2, what="the Kolkata push")
    second = gateway.delivered()[1]
    assert second.body["to"] == {"registration_id": ["in1", "in2"]}

    listed = wait_until(lambda: msg_ids(api, creds, sid)["count"] == 2 and msg_ids(api, creds, sid))
    assert listed["msgids"] == [first.msg_id, second.msg_id]
    runs = wait_until(lambda: len(store.history(sid)) == 2 and store.history(sid))
    assert {r.status for r in runs} == {"succeeded"}
    assert len({r.id for r in runs}) == 2  # two executions, each its own run and msg id


def test_a_failing_gateway_is_retried_and_the_push_sent_once(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    secret_key: bytes,
) -> None:
    api, _ = local_api
    creds = create_account(store, "utc", secret_key=secret_key, now_ms=now_ms())
    with FakePushGateway(statuses=[503]) as gateway:
        push.set_credentials(store, secret_key, creds["appkey"], gateway.key, gateway.secret)
        start(processes, store, gateway, retry_base_s=0.2, retry_max_s=0.5, max_attempts=3)
        when, _ = soon("UTC", 2)
        created = api.post(
            "/v4/schedules", data=example(CREATE_EXAMPLE, when), headers=basic(creds)
        )
        sid = created.get_json()["schedule_id"]
        runs = wait_until(lambda: len(store.history(sid)) == 2 and store.history(sid))
        assert [(r.status, r.attempt) for r in runs] == [("succeeded", 2), ("retrying", 1)]
        assert gateway.count() == 2 and len(gateway.delivered()) == 1
        assert msg_ids(api, creds, sid)["msgids"] == [gateway.delivered()[0].msg_id]


def test_without_gateway_credentials_the_push_is_a_dead_letter_saying_why(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    gateway: FakePushGateway,
) -> None:
    api, creds = local_api
    start(processes, store, gateway)
    when, _ = soon("UTC", 2)
    sid = api.post(
        "/v4/schedules", data=example(CREATE_EXAMPLE, when), headers=basic(creds)
    ).get_json()["schedule_id"]
    letters = wait_until(lambda: store.dead_letters(owner=(creds["appkey"], "push_schedules")))
    assert letters[0]["execution"]["schedule"] == sid
    assert "push-credentials" in letters[0]["error"]
    assert gateway.count() == 0

"""The native API's time features through Flask's client on real Redis: previews across DST
changes, the dst policy where it means nothing, and backfills of a past range."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from shared.store import Store
from shared.timing import parse_iso8601 as parse_iso
from tests.support import basic, native_schedule

Client = tuple[FlaskClient, dict[str, str]]
ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)


@pytest.mark.parametrize(
    ("dst", "fires"),
    [
        # 02:30 does not exist in New York on 2027-03-14: cron fires at the end of the gap
        ("cron", ["2027-03-13T07:30:00Z", "2027-03-14T07:00:00Z", "2027-03-15T06:30:00Z"]),
        ("skip", ["2027-03-13T07:30:00Z", "2027-03-15T06:30:00Z", "2027-03-16T06:30:00Z"]),
    ],
)
def test_preview_of_a_cron_across_a_dst_change_in_both_policies(
    local_api: Client, dst: str, fires: list[str]
) -> None:
    client, creds = local_api
    doc = {
        "trigger": {"cron": "30 2 * * *"},
        "timezone": "America/New_York",
        "dst": dst,
        "start": "2027-03-13T00:00:00Z",
        "count": 3,
    }
    answer = client.post("/v1/preview", json=doc, headers=basic(creds))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["fires"] == fires


def test_dst_skip_is_refused_where_no_wall_clock_is_read(local_api: Client) -> None:
    client, creds = local_api
    answer = native_schedule(client, basic(creds), trigger={"every": "PT1H"}, dst="skip")
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "dst"


def test_backfill_queues_each_fire_of_a_past_range_once(local_api: Client, store: Store) -> None:
    client, creds = local_api
    view = native_schedule(
        client, basic(creds), trigger={"cron": "0 * * * *"}, timezone="UTC"
    ).get_json()
    url = f"/v1/schedules/{view['id']}/backfill"
    day = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T23:59:59Z"}
    answer = client.post(url, json=day, headers=basic(creds))
    assert answer.status_code == 202, answer.get_data(as_text=True)
    executions = answer.get_json()["executions"]
    first = parse_iso("2026-01-01T00:00:00Z")
    assert executions == [f"{view['id']}:backfill-{first + h * 3_600_000}" for h in range(24)]
    queued = store.redis.zrange(store.keys.retries(), 0, -1, withscores=True)
    assert sorted(member for member, _ in queued) == sorted(executions)
    paced = sorted(score for _, score in queued)
    assert all(b - a == 100 for a, b in zip(paced, paced[1:], strict=False))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "end"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start"),
        ({"start": "2026-01-01T00:00:00Z"}, "end"),
        ({"start": "x", "end": "2026-01-01T00:00:00Z"}, "start"),
    ],
)
def test_a_bad_backfill_range_names_the_field(
    local_api: Client, body: dict[str, str], field: str
) -> None:
    client, creds = local_api
    view = native_schedule(client, basic(creds), trigger={"cron": "0 * * * *"}).get_json()
    answer = client.post(f"/v1/schedules/{view['id']}/backfill", json=body, headers=basic(creds))
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == field

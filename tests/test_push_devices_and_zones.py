"""/v4/devices (the device registry) and zone_type 2 planning, and the core helpers behind the push
dialect: instants triggers, the year-ahead limit, sealed gateway credentials, audiences."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient

from shared import push
from shared.model import InstantsTrigger, trigger_from_dict, trigger_to_dict
from shared.store import Store
from shared.timing import next_fire, parse_wall_clock, years_later_ms
from tests.push_support import (
    doc,
    post,
    push_with,
    refused,
    wall,
)
from tests.support import basic

# --- zone_type 2 and the device registry --------------------------------------------------------


ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)


def test_device_registry_put_get_delete(local_api: tuple[FlaskClient, dict[str, str]]) -> None:
    api, creds = local_api
    put = api.put(
        "/v4/devices/1a0018970ab49abda3e",
        json={"timezone": "Asia/Tokyo", "tags": ["vip"]},
        headers=basic(creds),
    )
    assert put.status_code == 200
    got = api.get("/v4/devices/1a0018970ab49abda3e", headers=basic(creds)).get_json()
    assert got == {
        "registration_id": "1a0018970ab49abda3e",
        "timezone": "Asia/Tokyo",
        "tags": ["vip"],
    }
    bad = api.put("/v4/devices/x", json={"timezone": "Mars/Olympus"}, headers=basic(creds))
    refused(bad, 28100, 400, "timezone")
    refused(
        api.put("/v4/devices/x", json={"zone": "UTC"}, headers=basic(creds)), 28100, 400, "zone"
    )
    other = api.get(
        "/v4/devices/1a0018970ab49abda3e", headers=basic({**creds, "master_secret": "x"})
    )
    assert other.status_code == 401
    assert api.delete("/v4/devices/1a0018970ab49abda3e", headers=basic(creds)).status_code == 200
    refused(api.get("/v4/devices/1a0018970ab49abda3e", headers=basic(creds)), 28104, 404)


def test_zone_type_2_plans_one_fire_per_distinct_zone_of_the_audience(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store, paris: dict[str, str]
) -> None:
    api, _ = local_api
    api.put("/v4/devices/tokyo1", json={"timezone": "Asia/Tokyo"}, headers=basic(paris))
    api.put("/v4/devices/tokyo2", json={"timezone": "Asia/Tokyo"}, headers=basic(paris))
    api.put("/v4/devices/ny", json={"timezone": "America/New_York"}, headers=basic(paris))
    when = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d 09:00:00")
    body = doc(
        trigger={"single": {"time": when, "zone_type": 2}},
        push=push_with(to={"registration_id": ["tokyo1", "tokyo2", "ny", "unregistered"]}),
    )
    created = post(api, paris, body)
    assert created.status_code == 200, created.get_data(as_text=True)
    schedule = store.get_schedule(created.get_json()["schedule_id"])
    assert schedule is not None

    local = parse_wall_clock(when)
    expected = {
        int(local.replace(tzinfo=ZoneInfo(z)).timestamp() * 1000): [z]
        for z in ("Asia/Tokyo", "Europe/Paris", "America/New_York")  # unregistered: Paris
    }
    assert schedule.trigger == InstantsTrigger(at_ms=tuple(sorted(expected)))
    assert schedule.target.spec["zones"] == {str(at): z for at, z in sorted(expected.items())}
    assert store.next_fire_ms(schedule.id) == min(expected)


def test_zone_type_2_without_a_push_target_is_a_28105(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    later = {"single": {"time": wall(timedelta(hours=30)), "zone_type": 2}}
    no_devices = post(api, creds, doc(trigger=later, push=push_with(to={"tag": ["vip"]})))
    refused(no_devices, 28105, 404, "push.to")
    # a time passed in every zone of the audience
    api.put("/v4/devices/d1", json={"timezone": "Asia/Tokyo"}, headers=basic(creds))
    past = {"single": {"time": wall(timedelta(hours=-30)), "zone_type": 2}}
    passed = post(api, creds, doc(trigger=past, push=push_with(to={"registration_id": ["d1"]})))
    refused(passed, 28105, 404, "trigger.single.time")


# --- core helpers ---------------------------------------------------------------------------------


def test_instants_trigger_round_trips_and_fires_at_each_instant() -> None:
    trigger = InstantsTrigger(at_ms=(1000, 5000, 9000))
    assert trigger_from_dict(json.loads(json.dumps(trigger_to_dict(trigger)))) == trigger
    assert [next_fire(trigger, t) for t in (0, 1000, 4999, 5000, 9000)] == [
        1000,
        5000,
        5000,
        9000,
        None,
    ]


def test_years_later_keeps_the_wall_clock_and_handles_29_february() -> None:
    leap = int(datetime(2028, 2, 29, 12, tzinfo=UTC).timestamp() * 1000)
    assert years_later_ms(leap, 1, "UTC") == int(
        datetime(2029, 2, 28, 12, tzinfo=UTC).timestamp() * 1000
    )
    summer = int(datetime(2026, 7, 1, 10, tzinfo=ZoneInfo("Europe/Paris")).timestamp() * 1000)
    assert years_later_ms(summer, 1, "Europe/Paris") - summer == 365 * 86_400_000


def test_push_credentials_are_sealed_and_only_the_same_key_opens_them(store: Store) -> None:
    push.set_credentials(store, b"a" * 32, "app1", "gw-key", "gw-secret")
    sealed = store.sealed_push_credentials("app1")
    assert sealed and "gw-secret" not in sealed
    assert push.credentials(store, b"a" * 32, "app1") == ("gw-key", "gw-secret")
    assert push.credentials(store, b"b" * 32, "app1") is None
    assert push.credentials(store, b"a" * 32, "nobody") is None


def test_audiences_resolve_against_the_registry(store: Store) -> None:
    store.put_device("acct", "a", {"timezone": "Asia/Tokyo", "tags": ["vip", "beta"]})
    store.put_device("acct", "b", {"tags": ["vip"], "alias": "bob"})
    store.put_device("acct", "c", {"timezone": "UTC", "tags": ["muted"]})
    zones = push.audience_zones
    assert zones(store, "acct", "all") == {"a": "Asia/Tokyo", "b": None, "c": "UTC"}
    assert zones(store, "acct", {"tag": ["vip"]}) == {"a": "Asia/Tokyo", "b": None}
    assert zones(store, "acct", {"tag_and": ["vip", "beta"]}) == {"a": "Asia/Tokyo"}
    assert zones(store, "acct", {"tag": ["vip"], "tag_not": ["beta"]}) == {"b": None}
    assert zones(store, "acct", {"alias": ["bob"]}) == {"b": None}
    assert zones(store, "acct", {"registration_id": ["c", "zz"]}) == {"c": "UTC", "zz": None}
    assert push.by_zone({"a": "Asia/Tokyo", "b": None, "zz": None}, "Europe/Paris") == {
        "Asia/Tokyo": ["a"],
        "Europe/Paris": ["b", "zz"],
    }

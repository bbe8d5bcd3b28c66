"""The stored form of a definition (shared.store.definitions): shorter, and both forms read."""

from __future__ import annotations

import json

import pytest

from shared.errors import InvalidSchedule
from shared.model import Schedule
from shared.store import Commit, Store
from shared.store.definitions import decode_definition, definition_dict, encode_definition
from tests.factories import cron, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_700_000_000_000
AT = {"now_ms": T0, "republish_after_ms": 60_000}


def test_the_stored_form_leaves_out_the_id_and_the_defaults() -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    stored = json.loads(encode_definition(schedule))
    assert not {"id", "enabled", "misfire", "purge_when_done", "doc"} & stored.keys()
    assert decode_definition(schedule.id, encode_definition(schedule)) == schedule


def test_the_stored_form_names_the_fields_every_schedule_has_by_one_letter() -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    stored = json.loads(encode_definition(schedule))
    assert stored.keys() == {"a", "d", "t", "g", "c"}
    assert stored["t"] == {"expr": "*/5 * * * *", "kind": "cron"}  # UTC is the default zone


def test_a_zone_other_than_utc_is_stored() -> None:
    schedule = webhook_schedule(cron("0 9 * * *", "Europe/Paris"), max_runs=3)
    stored = json.loads(encode_definition(schedule))
    assert (stored["t"]["timezone"], stored["max_runs"]) == ("Europe/Paris", 3)
    assert decode_definition(schedule.id, encode_definition(schedule)) == schedule


def test_fields_off_their_default_are_stored() -> None:
    schedule = webhook_schedule(
        cron("0 * * * *"), enabled=False, misfire="skip", purge_when_done=True, doc={"n": "x"}
    )
    stored = json.loads(encode_definition(schedule))
    assert (stored["enabled"], stored["misfire"], stored["purge_when_done"], stored["doc"]) == (
        False,
        "skip",
        True,
        {"n": "x"},
    )
    assert decode_definition(schedule.id, encode_definition(schedule)) == schedule


def test_a_definition_stored_whole_before_the_short_form_reads_the_same(store: Store) -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    store.put_schedule(schedule, None)
    store.redis.hset(store.keys.definitions(), schedule.id, json.dumps(schedule.to_dict()))
    assert store.get_schedule(schedule.id) == schedule
    assert store.get_schedules([schedule.id]) == [schedule]


def test_a_backup_row_is_the_whole_definition_whichever_form_is_stored() -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    whole = schedule.to_dict()
    assert definition_dict(schedule.id, encode_definition(schedule)) == whole
    assert definition_dict(schedule.id, json.dumps(whole)) == whole


def test_a_stored_value_that_is_not_an_object_is_an_invalid_schedule() -> None:
    with pytest.raises(InvalidSchedule, match="not an object"):
        decode_definition("s1", "1|[1, 2]")


def test_the_version_is_stored_in_front_of_the_definition(store: Store) -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    assert store.put_schedule(schedule, T0) == 1
    assert store.put_schedule(schedule, T0, new=False) == 2
    stored = store.redis.hget(store.keys.definitions(), schedule.id)
    assert stored == "2|" + encode_definition(schedule)
    assert not store.redis.exists(store.keys.versions())  # one hash entry per schedule
    assert store.get_schedule(schedule.id) == schedule


def _store_the_old_way(store: Store, schedule: Schedule, version: int) -> None:
    """A definition as stored before the version moved into it: JSON, version apart."""
    store.redis.hset(store.keys.definitions(), schedule.id, json.dumps(schedule.to_dict()))
    store.redis.hset(store.keys.versions(), schedule.id, version)


def test_an_edit_of_a_definition_stored_the_old_way_counts_on_from_its_version(
    store: Store,
) -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    store.put_schedule(schedule, T0)
    _store_the_old_way(store, schedule, 7)
    assert store.put_schedule(schedule, T0, new=False) == 8
    assert store.redis.hget(store.keys.versions(), schedule.id) is None
    assert store.get_schedule(schedule.id) == schedule


def test_an_edit_during_a_claim_of_an_old_way_definition_keeps_the_edits_next_fire(
    store: Store,
) -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    store.put_schedule(schedule, T0)
    _store_the_old_way(store, schedule, 3)
    claimed = store.claim(T0, 1000, 10, "a").entries
    assert [(e.member, e.version) for e in claimed] == [(schedule.id, 3)]
    assert decode_definition(claimed[0].member, claimed[0].body) == schedule
    store.put_schedule(schedule, T0 + 5_000, new=False)
    assert store.commit("a", [Commit(schedule.id, T0 + 60_000, "webhooks", "m")], **AT) == [1]
    assert store.next_fire_ms(schedule.id) == T0 + 5_000


def test_an_unedited_old_way_definition_advances_at_commit(store: Store) -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    store.put_schedule(schedule, T0)
    _store_the_old_way(store, schedule, 3)
    store.claim(T0, 1000, 10, "a")
    assert store.commit("a", [Commit(schedule.id, T0 + 60_000, "webhooks", "m")], **AT) == [1]
    assert store.next_fire_ms(schedule.id) == T0 + 60_000
    assert store.run_count(schedule.id) == 1

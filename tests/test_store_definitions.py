"""The stored form of a definition (shared.store.definitions): short, and older forms read."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import pytest

from shared.contract import DialectName, TargetKind
from shared.errors import InvalidSchedule
from shared.model import (
    CalendarTrigger,
    CronTrigger,
    InstantsTrigger,
    IntervalTrigger,
    OnceTrigger,
    RepeatItem,
    RRuleTrigger,
    Schedule,
    Target,
    Trigger,
)
from shared.store import Commit, Store
from shared.store.definitions import (
    _CONTENT_TYPE_CODES,
    _DIALECT_CODES,
    _TRIGGER_FIELDS,
    decode_definition,
    definition_dict,
    encode_definition,
)
from tests.factories import cron, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_700_000_000_000
AT = {"now_ms": T0, "republish_after_ms": 60_000}


def test_the_stored_form_is_an_array_without_the_id_and_the_defaults() -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    stored = json.loads(encode_definition(schedule))
    spec = schedule.target.spec
    assert stored == [
        schedule.account,
        schedule.dialect,  # not a dialect of the service: stored by its name
        ["c", "*/5 * * * *"],  # UTC is the default zone
        ["w", spec["url"], spec["data"], 0],  # application/json, by its code
        schedule.created_ms,
    ]
    assert spec["content_type"] == "application/json"
    assert decode_definition(schedule.id, encode_definition(schedule)) == schedule


@pytest.mark.parametrize("dialect", list(DialectName))
def test_each_dialect_is_stored_as_its_code(dialect: DialectName) -> None:
    schedule = replace(webhook_schedule(cron("*/5 * * * *")), dialect=dialect.value)
    stored = json.loads(encode_definition(schedule))
    assert stored[1] == _DIALECT_CODES[dialect.value]
    assert isinstance(stored[1], int)
    decoded = decode_definition(schedule.id, encode_definition(schedule))
    assert decoded == schedule
    assert type(decoded.dialect) is str


@pytest.mark.parametrize("content_type", [*_CONTENT_TYPE_CODES, "text/csv", 7, True, None])
def test_every_content_type_reads_back_as_it_was(content_type: object) -> None:
    target = Target(TargetKind.WEBHOOK, {"url": "https://x.test/", "content_type": content_type})
    schedule = replace(webhook_schedule(cron("* * * * *")), target=target)
    stored = json.loads(encode_definition(schedule))
    coded = content_type in _CONTENT_TYPE_CODES
    assert (len(stored[3]) > 2 and isinstance(stored[3][3], int)) == coded
    decoded = decode_definition(schedule.id, encode_definition(schedule))
    assert decoded == schedule
    assert decoded.target.spec == target.spec
    assert type(decoded.target.spec["content_type"]) is type(content_type)


def test_the_array_form_with_names_before_the_codes_reads_the_same() -> None:
    raw = '3|["acct","webhook_jobs",["c","0 * * * *"],["w","https://x.test/",null,"text/xml"],5]'
    schedule = decode_definition("s1", raw)
    assert schedule.dialect == "webhook_jobs"
    assert schedule.target.spec == {"url": "https://x.test/", "content_type": "text/xml"}
    assert (
        encode_definition(schedule)
        == '["acct",0,["c","0 * * * *"],["w","https://x.test/",null,4],5]'
    )


def test_a_zone_other_than_utc_is_stored() -> None:
    schedule = webhook_schedule(cron("0 9 * * *", "Europe/Paris"), max_runs=3)
    stored = json.loads(encode_definition(schedule))
    assert (stored[2], stored[5]) == (["c", "0 9 * * *", "Europe/Paris"], {"max_runs": 3})
    assert decode_definition(schedule.id, encode_definition(schedule)) == schedule


def test_fields_off_their_default_are_stored() -> None:
    schedule = webhook_schedule(
        cron("0 * * * *"), enabled=False, misfire="skip", purge_when_done=True, doc={"n": "x"}
    )
    stored = json.loads(encode_definition(schedule))
    assert stored[5] == {
        "enabled": False,
        "misfire": "skip",
        "purge_when_done": True,
        "doc": {"n": "x"},
    }
    assert decode_definition(schedule.id, encode_definition(schedule)) == schedule


@pytest.mark.parametrize(
    "trigger",
    [
        OnceTrigger(at_ms=T0),
        CronTrigger("0 9 * * *", dst="skip"),
        CalendarTrigger(items=(RepeatItem(hour=9, minute=30),), timezone="Asia/Tokyo", dst="skip"),
        IntervalTrigger(every_ms=60_000, anchor_ms=T0),
        InstantsTrigger(at_ms=(T0, T0 + 1)),
        RRuleTrigger(rule="FREQ=DAILY", dtstart_ms=T0, timezone="Europe/Paris"),
    ],
)
def test_every_trigger_kind_reads_back_as_it_was(trigger: Trigger) -> None:
    schedule = replace(webhook_schedule(cron("* * * * *")), trigger=trigger)
    assert decode_definition(schedule.id, encode_definition(schedule)) == schedule


def test_the_stored_trigger_fields_name_every_field_of_each_kind() -> None:
    kinds = (
        OnceTrigger,
        CronTrigger,
        CalendarTrigger,
        IntervalTrigger,
        InstantsTrigger,
        RRuleTrigger,
    )
    for kind in kinds:
        names = {f.name for f in fields(kind)} - {"kind"}
        assert set(_TRIGGER_FIELDS[kind.kind]) == names, kind


@pytest.mark.parametrize(
    "target",
    [
        Target(
            TargetKind.WEBHOOK, {"url": "https://x.test/", "method": "PUT", "headers": {"a": "b"}}
        ),
        Target(TargetKind.WEBHOOK, {"url": "https://x.test/", "data": None}),  # null, not absent
        Target(TargetKind.WEBHOOK, {}),
        Target(TargetKind.TASK, {"class_name": "Job", "data": {"k": [1, 2]}}),
        Target(TargetKind.PUSH, {"push": {"audience": "all"}}),
        Target(TargetKind.BEACON, {"job": {"tasks": []}}),
    ],
)
def test_every_target_kind_reads_back_as_it_was(target: Target) -> None:
    schedule = replace(webhook_schedule(cron("* * * * *")), target=target)
    decoded = decode_definition(schedule.id, encode_definition(schedule))
    assert decoded == schedule
    assert decoded.target.spec.keys() == target.spec.keys()


def test_a_definition_in_the_object_form_before_the_array_reads_the_same(store: Store) -> None:
    schedule = webhook_schedule(cron("0 9 * * *", "Europe/Paris"), max_runs=3)
    whole = schedule.to_dict()
    short = {"a": whole["account"], "d": whole["dialect"], "t": whole["trigger"]}
    short |= {"g": whole["target"], "c": whole["created_ms"], "max_runs": 3}
    store.put_schedule(schedule, None)
    store.redis.hset(store.keys.definitions(), schedule.id, "1|" + json.dumps(short))
    assert store.get_schedule(schedule.id) == schedule
    assert store.get_schedules([schedule.id]) == [schedule]


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


@pytest.mark.parametrize(
    "raw",
    [
        "1|7",
        "1|[1, 2]",
        '1|["a", "d", ["x"], ["w"], 1]',
        '1|["a", "d", ["c"], ["w", 1, 2, 3, 4], 1]',
        '1|["a", 99, ["c", "* * * * *"], ["w"], 1]',  # no dialect has code 99
        '1|["a", "d", ["c", "* * * * *"], ["w", "u", null, 99], 1]',
    ],
)
def test_a_stored_value_that_is_not_a_schedule_is_an_invalid_schedule(raw: str) -> None:
    with pytest.raises(InvalidSchedule, match="not a schedule"):
        decode_definition("s1", raw)


def test_the_version_is_stored_in_front_of_the_definition(store: Store) -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    assert store.put_schedule(schedule, T0) == 1
    assert store.put_schedule(schedule, T0, new=False) == 2
    stored = store.redis.hget(store.keys.definitions(), schedule.id)
    assert stored == "2.0|" + encode_definition(schedule)  # version 2, due bucket 0
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

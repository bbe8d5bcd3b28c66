"""The stored form of a definition (shared.store.definitions): shorter, and both forms read."""

from __future__ import annotations

import json

import pytest

from shared.errors import InvalidSchedule
from shared.store import Store
from shared.store.definitions import decode_definition, definition_dict, encode_definition
from tests.factories import cron, webhook_schedule


def test_the_stored_form_leaves_out_the_id_and_the_defaults() -> None:
    schedule = webhook_schedule(cron("*/5 * * * *"))
    stored = json.loads(encode_definition(schedule))
    assert not {"id", "enabled", "misfire", "purge_when_done", "doc"} & stored.keys()
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
        decode_definition("s1", "[1, 2]")

"""The dialect-neutral core verbs on a real Redis: pause, resume, preview, list every schedule,
dead-letter discard, API keys, Idempotency-Key records, cursor pages."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from shared import api_keys, idempotency, schedules
from shared.config import Config
from shared.errors import NoFutureFire, NotFound
from shared.store import Store
from tests.factories import every, once, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_800_000_000_000
MIN = 60_000


@pytest.fixture
def config(clean_redis: str, store_settings: dict[str, str], tmp_path: Path) -> Config:
    """Callbacks to 127.0.0.1 allowed (the factories' URL)."""
    return Config.from_env(
        {},
        redis_url=clean_redis,
        data_dir=str(tmp_path),
        target_allowlist=("127.0.0.0/8",),
        **store_settings,
    )


def test_pause_leaves_the_due_index_and_resume_starts_from_now(
    store: Store, config: Config
) -> None:
    schedule = webhook_schedule(every(MIN, T0), account="a")
    schedules.create(store, config, schedule, now_ms=T0)
    assert store.next_fire_ms(schedule.id) == T0

    paused = schedules.pause(store, "a", schedule.id)
    assert not paused.enabled
    assert store.next_fire_ms(schedule.id) is None
    assert schedules.pause(store, "a", schedule.id) == paused  # pausing twice changes nothing

    # resumed 10.5 minutes later: the fires it missed while paused are not run
    next_ms = schedules.resume(store, "a", schedule.id, now_ms=T0 + 10 * MIN + 30_000)
    assert next_ms == T0 + 11 * MIN
    assert store.next_fire_ms(schedule.id) == T0 + 11 * MIN
    assert store.get_schedule(schedule.id).enabled  # type: ignore[union-attr]


def test_resume_of_a_schedule_without_future_fires_is_refused(store: Store, config: Config) -> None:
    schedule = webhook_schedule(once(T0 + MIN), account="a")
    schedules.create(store, config, schedule, now_ms=T0)
    schedules.pause(store, "a", schedule.id)
    with pytest.raises(NoFutureFire):
        schedules.resume(store, "a", schedule.id, now_ms=T0 + 2 * MIN)
    assert not store.get_schedule(schedule.id).enabled  # type: ignore[union-attr]


def test_another_accounts_schedule_cannot_be_paused_or_resumed(
    store: Store, config: Config
) -> None:
    schedule = webhook_schedule(every(MIN, T0), account="a")
    schedules.create(store, config, schedule, now_ms=T0)
    with pytest.raises(NotFound):
        schedules.pause(store, "b", schedule.id)
    with pytest.raises(NotFound):
        schedules.resume(store, "b", schedule.id, now_ms=T0)
    assert store.next_fire_ms(schedule.id) == T0


def test_preview_honours_start_end_and_max_runs() -> None:
    schedule = webhook_schedule(every(MIN, T0), start_ms=T0 + 2 * MIN, end_ms=T0 + 10 * MIN)
    assert schedules.preview(schedule, T0, 3) == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]
    capped = replace(schedule, max_runs=4)
    assert schedules.preview(capped, T0, 10, runs_done=2) == [T0 + 2 * MIN, T0 + 3 * MIN]
    assert len(schedules.preview(schedule, T0, 100)) == 9  # 2..10 minutes, end inclusive


def test_list_all_finds_every_dialects_schedules_of_one_account(
    store: Store, config: Config
) -> None:
    made = []
    for n, dialect in enumerate(("webhook_jobs", "push_schedules", "native")):
        schedule = replace(
            webhook_schedule(every(MIN, T0), account="a", created_ms=T0 + n), dialect=dialect
        )
        schedules.create(store, config, schedule, now_ms=T0)
        made.append(schedule.id)
    schedules.create(store, config, webhook_schedule(every(MIN, T0), account="b"), now_ms=T0)
    assert [s.id for s in schedules.list_all(store, "a")] == made


def test_pages_of_schedule_ids_follow_creation_order(store: Store, config: Config) -> None:
    ids = []
    for n in range(5):
        schedule = replace(
            webhook_schedule(every(MIN, T0), account="a", created_ms=T0 + n), dialect="native"
        )
        schedules.create(store, config, schedule, now_ms=T0)
        ids.append(schedule.id)
    first = store.page_schedule_ids("a", "native", None, 2)
    assert [sid for sid, _ in first] == ids[:2]
    second = store.page_schedule_ids("a", "native", first[-1][1], 10)
    assert [sid for sid, _ in second] == ids[2:]
    assert store.page_schedule_ids("a", "native", second[-1][1], 10) == []


def test_a_dead_letter_is_discarded_only_by_its_account(store: Store) -> None:
    execution = {"id": "s:1", "schedule": "s", "account": "a", "dialect": "native", "due_ms": 1}
    letter = json.dumps({"execution": execution, "died_ms": 2})
    store.redis.hset(store.keys.dead_letters(), "s:1", letter)
    store.redis.zadd(store.keys.dead_index(), {"s:1": 2})
    store.redis.zadd(store.keys.account_dead_index("a", "native"), {"s:1": 2})
    with pytest.raises(NotFound):
        schedules.discard_dead_letter(store, "s:1", "b")
    schedules.discard_dead_letter(store, "s:1", "a")
    assert store.dead_letter("s:1") is None
    assert store.dead_letters(owner=("a", "native")) == []
    with pytest.raises(NotFound):
        schedules.discard_dead_letter(store, "s:1", "a")


def test_api_keys_are_shown_once_stored_hashed_and_scoped(store: Store) -> None:
    record, token = api_keys.create_api_key(
        store, "a", "ci", ["schedules:read", "runs:read"], now_ms=T0
    )
    store.put_account({"appkey": "a", "userkey_sha256": "x", "name": "acme"})
    assert token.startswith("sk_") and "sha256" not in record
    assert token not in str(store.redis.hgetall(store.keys.api_keys("a")))
    account, scopes = api_keys.authenticate_api_key(store, token)  # type: ignore[misc]
    assert account["appkey"] == "a" and scopes == {"schedules:read", "runs:read"}
    assert api_keys.authenticate_api_key(store, token + "x") is None
    assert [k["name"] for k in api_keys.list_api_keys(store, "a")] == ["ci"]
    with pytest.raises(NotFound):
        api_keys.delete_api_key(store, "b", record["id"])
    api_keys.delete_api_key(store, "a", record["id"])
    assert api_keys.authenticate_api_key(store, token) is None


@pytest.mark.parametrize(
    ("name", "scopes", "field"),
    [("", ["runs:read"], "name"), ("ci", [], "scopes"), ("ci", ["root"], "scopes")],
)
def test_api_key_rules_name_the_bad_field(
    store: Store, name: str, scopes: list[str], field: str
) -> None:
    with pytest.raises(api_keys.InvalidApiKey) as caught:
        api_keys.create_api_key(store, "a", name, scopes, now_ms=T0)
    assert caught.value.field == field


def test_idempotency_replays_refuses_another_body_and_forgets_a_5xx(store: Store) -> None:
    first = idempotency.fingerprint("POST", "/v1/schedules", b"{}")
    other = idempotency.fingerprint("POST", "/v1/schedules", b"{ }")
    assert idempotency.begin(store, "a", "k1", first).kind == "fresh"
    assert idempotency.begin(store, "a", "k1", first).kind == "pending"
    answer = idempotency.Answer(201, '{"id": "x"}', "application/json", "/v1/schedules/x")
    idempotency.finish(store, "a", "k1", first, answer)
    assert idempotency.begin(store, "a", "k1", first) == idempotency.Outcome("answer", answer)
    assert idempotency.begin(store, "a", "k1", other).kind == "mismatch"
    assert idempotency.begin(store, "b", "k1", other).kind == "fresh"  # keys are per account
    assert 0 < store.redis.ttl(store.keys.idempotency("a", idempotency.key_digest("k1"))) <= 86400

    assert idempotency.begin(store, "a", "k2", first).kind == "fresh"
    idempotency.finish(store, "a", "k2", first, idempotency.Answer(503, "", "text/plain"))
    assert idempotency.begin(store, "a", "k2", first).kind == "fresh"

"""The store's Lua scripts on a real Redis: claims, commits, leases, edits, deletes, executions."""

from __future__ import annotations

import json

import pytest

from shared.errors import QuotaExceeded, UnsafeRedisConfig
from shared.model import RunRecord
from shared.store import Commit, Store, decode_definition
from tests.factories import once, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_800_000_000_000  # a fixed "now" in ms
AT = {"now_ms": T0, "republish_after_ms": 10_000}  # a commit's clock and ledger bound
RUN_AT = {"now_ms": T0, "lease_ms": 60_000}  # a worker's clock and attempt lease


def put_due(store: Store, due_ms: int, **fields):
    schedule = webhook_schedule(once(due_ms), **fields)
    store.put_schedule(schedule, due_ms)
    return schedule


def test_claim_takes_only_what_is_due_and_reports_next_wake(store: Store) -> None:
    due = put_due(store, T0 - 5)
    later = put_due(store, T0 + 1000)
    result = store.claim(T0, lease_ms=1000, limit=10, token="a")
    assert [e.member for e in result.entries] == [due.id]
    assert result.entries[0].due_ms == T0 - 5
    assert decode_definition(result.entries[0].member, result.entries[0].body) == due
    # the claim's own lease (T0 + 1000) and the later schedule are both pending at T0 + 1000
    assert result.next_wake_ms == T0 + 1000
    assert store.next_fire_ms(later.id) == T0 + 1000


def test_idle_claim_returns_nothing_and_the_earliest_due(store: Store) -> None:
    put_due(store, T0 + 500)
    result = store.claim(T0, lease_ms=1000, limit=10, token="a")
    assert result.entries == []
    assert result.next_wake_ms == T0 + 500


def test_empty_store_has_no_wake_time(store: Store) -> None:
    assert store.claim(T0, 1000, 10, "a").next_wake_ms is None


def test_a_claimed_entry_is_not_claimed_again_while_leased(store: Store) -> None:
    put_due(store, T0)
    assert len(store.claim(T0, 1000, 10, "a").entries) == 1
    assert store.claim(T0 + 999, 1000, 10, "b").entries == []


def test_an_expired_lease_is_reclaimed_with_its_original_due(store: Store) -> None:
    schedule = put_due(store, T0)
    store.claim(T0, 1000, 10, "dead-beat")
    retaken = store.claim(T0 + 1000, 1000, 10, "b").entries
    assert [(e.member, e.due_ms) for e in retaken] == [(schedule.id, T0)]
    # the dead beat's token can no longer commit: nothing is published twice
    commit = Commit(schedule.id, None, "webhooks", "m1")
    assert store.commit("dead-beat", [commit], **AT) == [0]
    assert store.commit("b", [Commit(schedule.id, None, "webhooks", "m2")], **AT) == [1]
    assert store.redis.lrange(store.keys.publish_target("webhooks"), 0, -1) == ["m2"]


def test_commit_publishes_and_advances(store: Store) -> None:
    schedule = put_due(store, T0)
    store.claim(T0, 1000, 10, "a")
    assert store.commit("a", [Commit(schedule.id, T0 + 60_000, "webhooks", "msg")], **AT) == [1]
    assert store.redis.lrange(store.keys.publish_target("webhooks"), 0, -1) == ["msg"]
    assert store.next_fire_ms(schedule.id) == T0 + 60_000
    assert store.run_count(schedule.id) == 1
    assert store.redis.zcard(store.keys.leases()) == 0


def test_commit_without_next_fire_retires_or_purges(store: Store) -> None:
    kept = put_due(store, T0)
    purged = put_due(store, T0, account="other")
    store.claim(T0, 1000, 10, "a")
    statuses = store.commit(
        "a",
        [
            Commit(kept.id, None, "webhooks", "m1"),
            Commit(purged.id, None, "webhooks", "m2", purge_from=("other", "test")),
        ],
        **AT,
    )
    assert statuses == [1, 1]
    assert store.get_schedule(kept.id) is not None and store.next_fire_ms(kept.id) is None
    assert store.get_schedule(purged.id) is None
    assert store.list_schedule_ids("other", "test") == []
    assert store.retired_schedule(purged.id) is None  # retain_s=0: nothing kept


def test_a_purged_definition_is_kept_retired_for_its_history(store: Store) -> None:
    schedule = put_due(store, T0, account="other")
    store.claim(T0, 1000, 10, "a")
    commit = Commit(schedule.id, None, "webhooks", "m", ("other", "test"), retain_s=60)
    assert store.commit("a", [commit], **AT) == [1]
    assert store.get_schedule(schedule.id) is None
    assert store.retired_schedule(schedule.id) == schedule
    assert 0 < store.redis.ttl(store.keys.retired(schedule.id)) <= 60


def test_delete_during_claim_publishes_nothing(store: Store) -> None:
    schedule = put_due(store, T0)
    store.claim(T0, 1000, 10, "a")
    assert store.delete_schedule(schedule)
    assert store.commit("a", [Commit(schedule.id, T0 + 1, "webhooks", "m")], **AT) == [2]
    assert store.redis.llen(store.keys.publish_target("webhooks")) == 0
    assert store.next_fire_ms(schedule.id) is None


def test_edit_during_claim_keeps_the_edits_next_fire(store: Store) -> None:
    schedule = put_due(store, T0)
    store.claim(T0, 1000, 10, "a")
    store.put_schedule(schedule, T0 + 5_000, new=False)
    # the fire that was due under the old definition still goes out, but the old plan's next
    # fire must not overwrite the edit's
    assert store.commit("a", [Commit(schedule.id, T0 + 60_000, "webhooks", "m")], **AT) == [1]
    assert store.next_fire_ms(schedule.id) == T0 + 5_000


def test_paused_schedule_leaves_the_due_index(store: Store) -> None:
    schedule = put_due(store, T0)
    store.put_schedule(schedule, None, new=False)
    assert store.claim(T0, 1000, 10, "a").entries == []


def test_quota_counts_new_schedules_only(store: Store) -> None:
    first = webhook_schedule(once(T0))
    store.put_schedule(first, T0, quota=1)
    store.put_schedule(first, T0 + 1, quota=1, new=False)  # replacing is not a new schedule
    with pytest.raises(QuotaExceeded):
        store.put_schedule(webhook_schedule(once(T0)), T0, quota=1)


def test_list_is_in_creation_order_and_paged(store: Store) -> None:
    ids = [put_due(store, T0, created_ms=T0 + i).id for i in range(5)]
    assert store.list_schedule_ids("acct", "test", 0, 2) == ids[:2]
    assert store.list_schedule_ids("acct", "test", 4, 2) == ids[4:]
    assert store.count_schedules("acct", "test") == 5


def test_schedules_created_in_the_same_ms_or_with_a_clock_behind_list_in_creation_order(
    store: Store,
) -> None:
    ids = [put_due(store, T0, created_ms=T0).id for _ in range(20)]
    ids.append(put_due(store, T0, created_ms=T0 - 5_000).id)  # an API host whose clock lags
    store.put_schedule(store.get_schedule(ids[3]), T0, new=False)  # an edit keeps its place
    assert store.list_schedule_ids("acct", "test", 0, -1) == ids


def test_claim_respects_the_batch_limit(store: Store) -> None:
    for _ in range(5):
        put_due(store, T0)
    first = store.claim(T0, 1000, 3, "a").entries
    second = store.claim(T0, 1000, 3, "b").entries
    assert len(first) == 3 and len(second) == 2
    assert not {e.member for e in first} & {e.member for e in second}


def _record(attempt: int, status: str = "retrying") -> RunRecord:
    return RunRecord("s1:1", "s1", 1, 1, 2, 3, status, attempt)  # type: ignore[arg-type]


def test_execution_runs_once_and_retries_go_through_the_claim(store: Store) -> None:
    assert store.begin_execution("s1:1", 1, 60, **RUN_AT) == "run"
    store.finish_execution(
        _record(1),
        "retry",
        account="a",
        now_ms=T0,
        history_cap=10,
        retention_s=60,
        retry_at_ms=T0 + 100,
        payload={"task": "t", "queue": "webhooks", "execution": {"id": "s1:1", "attempt": 2}},
    )
    assert store.begin_execution("s1:1", 1, 60, **RUN_AT) == "stale"  # a duplicate of attempt 1
    retry = store.claim(T0 + 100, 1000, 10, "a").entries
    assert [(e.kind, e.member) for e in retry] == [("r", "s1:1")]
    assert store.commit("a", [Commit("s1:1", None, "webhooks", "retry-msg")], **AT) == [1]
    assert store.begin_execution("s1:1", 2, 60, **RUN_AT) == "run"
    store.finish_execution(
        _record(2, "succeeded"), "done", account="a", now_ms=T0, history_cap=10, retention_s=60
    )
    assert store.begin_execution("s1:1", 2, 60, **RUN_AT) == "done"
    assert [r.attempt for r in store.history("s1")] == [2, 1]


def test_history_is_capped(store: Store) -> None:
    for attempt in range(1, 6):
        store.finish_execution(
            _record(attempt, "succeeded"),
            "done",
            account="a",
            now_ms=T0,
            history_cap=3,
            retention_s=60,
        )
    assert [r.attempt for r in store.history("s1")] == [5, 4, 3]
    assert 0 < store.redis.ttl(store.keys.history("s1")) <= 60


def test_an_accounts_runs_are_kept_across_its_schedules_and_capped(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.store.executions.ACCOUNT_RUNS_CAP", 3)
    for n in range(1, 5):
        record = RunRecord(f"s{n}:1", f"s{n}", 1, 1, 2, 3, "succeeded", 1)
        store.finish_execution(
            record, "done", account="a", now_ms=T0, history_cap=10, retention_s=60
        )
    assert [r.schedule for r in store.account_runs("a")] == ["s4", "s3", "s2"]
    assert store.account_runs("b") == []
    assert 0 < store.redis.ttl(store.keys.account_runs("a")) <= 60


def test_dead_letters_are_listed_and_redriven(store: Store) -> None:
    owner = {"account": "a", "dialect": "d"}
    store.begin_execution("s1:1", 3, 60, **RUN_AT)
    store.finish_execution(
        _record(3, "dead"),
        "dead",
        account="a",
        now_ms=T0,
        history_cap=10,
        retention_s=60,
        payload={"execution": {**owner, "id": "s1:1"}, "error": "HTTP 500"},
    )
    assert [d["error"] for d in store.dead_letters()] == ["HTTP 500"]
    assert [d["error"] for d in store.dead_letters(owner=("a", "d"))] == ["HTTP 500"]
    assert store.dead_letters(owner=("b", "d")) == []
    retry = {"task": "t", "queue": "webhooks", "execution": {**owner, "id": "s1:1", "attempt": 1}}
    assert store.redrive("s1:1", T0, retry)
    assert store.dead_letters() == [] and store.dead_letters(owner=("a", "d")) == []
    assert not store.redrive("s1:1", T0, retry)
    assert [e.member for e in store.claim(T0, 1000, 10, "a").entries] == ["s1:1"]
    assert store.begin_execution("s1:1", 1, 60, **RUN_AT) == "run"


def test_refuses_a_redis_that_may_evict(store: Store) -> None:
    store.check_redis_is_safe()
    store.redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with pytest.raises(UnsafeRedisConfig, match="noeviction"):
            store.check_redis_is_safe()
    finally:
        store.redis.config_set("maxmemory-policy", "noeviction")


def test_an_unreadable_definition_does_not_block_the_other_fires(store: Store, config) -> None:
    from scheduler_beat.dispatch import Dispatcher

    good = put_due(store, T0)
    bad = put_due(store, T0)
    store.redis.hset(store.keys.definitions(), bad.id, '{"id": "broken"}')
    result = Dispatcher(store, config).tick(T0)
    assert (result.claimed, result.published) == (2, 1)
    assert [
        json.loads(m)["headers"]["id"]
        for m in store.redis.lrange(store.keys.publish_target("webhooks"), 0, -1)
    ] == [f"{good.id}:{T0}"]
    assert store.next_fire_ms(bad.id) is None


def test_fire_facts_read_next_fire_and_fires_of_many_schedules_at_once(store: Store) -> None:
    due = put_due(store, T0 + 1000)
    paused = webhook_schedule(once(T0), enabled=False)
    store.put_schedule(paused, None)
    store.claim(T0 + 1000, lease_ms=1000, limit=10, token="a")
    assert store.commit("a", [Commit(due.id, T0 + 5000, "webhooks", "m")], **AT) == [1]
    facts = store.fire_facts([due.id, paused.id, "unknown"])
    assert facts == [(T0 + 5000, 1), (None, 0), (None, 0)]
    assert store.fire_facts([]) == []

"""The due index in buckets (shared/store/lua/lib/due_index.lua), on real Redis: small sorted
sets that Redis keeps compact, claimed in full and once, and an index stored before still read."""

from __future__ import annotations

import json

import pytest

from shared.model import Schedule
from shared.store import Commit, Store
from shared.store.definitions import due_bucket, encode_definition
from tests.factories import once, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_700_000_000_000
AT = {"now_ms": T0 + 10_000, "republish_after_ms": 60_000}
BUCKET = 128


def _put(store: Store, n: int, at_ms: int) -> list[str]:
    """n new schedules, the i-th due at at_ms + i."""
    ids = []
    for i in range(n):
        schedule = webhook_schedule(once(at_ms + i))
        store.put_schedule(schedule, at_ms + i)
        ids.append(schedule.id)
    return ids


def _store_as_before_the_buckets(store: Store, schedule: Schedule, raw: str, due_ms: int) -> None:
    """The schedule (alone in its bucket) as stored before: its value raw, its entry in D."""
    k = store.keys
    bucket = due_bucket(store.redis.hget(k.definitions(), schedule.id))
    assert bucket is not None and store.redis.zcard(k.due_bucket(bucket)) == 1
    store.redis.delete(k.due_bucket(bucket), k.due_count())
    store.redis.zrem(f"{k.due()}:buckets", bucket)
    store.redis.hset(k.definitions(), schedule.id, raw)
    store.redis.zadd(k.due(), {schedule.id: due_ms})


def _bucket_sizes(store: Store) -> dict[str, int]:
    k = store.keys
    buckets = store.redis.zrange(f"{k.due()}:buckets", 0, -1)
    return {b: store.redis.zcard(k.due_bucket(b)) for b in buckets}


def test_buckets_hold_at_most_128_schedules_each_in_the_compact_encoding(store: Store) -> None:
    _put(store, 300, T0)
    k = store.keys
    assert _bucket_sizes(store) == {"0": BUCKET, "1": BUCKET, "2": 300 - 2 * BUCKET}
    for bucket in ("0", "1", "2"):
        assert store.redis.object("encoding", k.due_bucket(bucket)) in ("listpack", "ziplist")
    assert not store.redis.exists(k.due())  # nothing in the root (the form before buckets)
    assert int(store.redis.get(k.due_count())) == 300
    assert store.gauges().due == 300


def test_each_bucket_is_listed_at_its_earliest_fire(store: Store) -> None:
    ids = _put(store, 200, T0)
    store.put_schedule(webhook_schedule(once(T0 - 5), id=ids[150]), T0 - 5, new=False)
    earliest = dict(store.redis.zrange(f"{store.keys.due()}:buckets", 0, -1, withscores=True))
    assert earliest == {"0": T0, "1": T0 - 5}


def test_a_claim_takes_every_due_schedule_once_across_buckets_and_none_not_due(
    store: Store,
) -> None:
    due = _put(store, 300, T0)  # T0 .. T0 + 299
    later = _put(store, 50, T0 + 60_000)
    claimed: list[str] = []
    for _ in range(20):  # bounded: 300 due at 40 a claim is 8 claims
        result = store.claim(T0 + 1_000, 30_000, 40, "beat")
        assert len(result.entries) <= 40
        claimed += [e.member for e in result.entries]
        if not result.entries:
            break
        done = [Commit(e.member, None, None) for e in result.entries]  # no next fire
        assert store.commit("beat", done, **AT) == [1] * len(done)
    assert sorted(claimed) == sorted(due)
    assert not set(claimed) & set(later)
    assert store.claim(T0 + 1_000, 30_000, 40, "beat").next_wake_ms == T0 + 60_000
    assert store.gauges().due == 50


def test_a_commit_puts_the_schedule_back_in_its_own_bucket(store: Store) -> None:
    ids = _put(store, 130, T0)
    entry = next(e for e in store.claim(T0 + 200, 30_000, 200, "b").entries if e.member == ids[129])
    statuses = store.commit("b", [Commit(entry.member, T0 + 90_000, None)], **AT)
    assert statuses == [1]
    assert store.redis.zscore(store.keys.due_bucket("1"), ids[129]) == T0 + 90_000
    assert store.next_fire_ms(ids[129]) == T0 + 90_000
    assert store.gauges().due == 1  # the other 129 are claimed, not committed


def test_an_edit_keeps_the_bucket_and_a_delete_leaves_no_empty_bucket(store: Store) -> None:
    ids = _put(store, 129, T0)
    last = store.get_schedule(ids[128])
    assert last is not None
    store.put_schedule(last, T0 + 5_000, new=False)
    assert store.redis.hget(store.keys.definitions(), last.id).startswith("2.1|")
    assert store.delete_schedule(last)
    assert _bucket_sizes(store) == {"0": BUCKET}
    assert store.gauges().due == BUCKET and store.next_fire_ms(last.id) is None


@pytest.mark.parametrize("form", ["3|<JSON>", "<JSON> with its version apart"])
def test_a_schedule_stored_before_the_buckets_fires_and_moves_to_one_at_that_fire(
    store: Store, form: str
) -> None:
    schedule = webhook_schedule(once(T0))
    store.put_schedule(schedule, T0)
    k = store.keys
    # as stored before: its entry in the root sorted set, its value without a bucket
    if form == "3|<JSON>":
        _store_as_before_the_buckets(store, schedule, "3|" + encode_definition(schedule), T0)
    else:
        _store_as_before_the_buckets(store, schedule, json.dumps(schedule.to_dict()), T0)
        store.redis.hset(k.versions(), schedule.id, 3)
    assert store.next_fire_ms(schedule.id) == T0
    assert store.gauges().due == 1
    [entry] = store.claim(T0, 30_000, 10, "b").entries
    assert (entry.member, entry.version) == (schedule.id, 3)
    assert store.commit("b", [Commit(schedule.id, T0 + 60_000, None)], **AT) == [1]
    assert not store.redis.exists(k.due()) and not store.redis.exists(k.versions())
    stored = store.redis.hget(k.definitions(), schedule.id)
    assert stored.startswith("3.") and due_bucket(stored) is not None
    assert store.redis.zscore(k.due_bucket(due_bucket(stored)), schedule.id) == T0 + 60_000
    assert store.get_schedule(schedule.id) == schedule
    assert store.next_fire_ms(schedule.id) == T0 + 60_000 and store.gauges().due == 1
    store.put_schedule(schedule, T0 + 120_000, new=False)  # an edit counts on, same bucket
    rewritten = f"4.{due_bucket(stored)}|{encode_definition(schedule)}"
    assert store.redis.hget(k.definitions(), schedule.id) == rewritten


def test_an_edit_gives_a_schedule_stored_before_the_buckets_one(store: Store) -> None:
    schedule = webhook_schedule(once(T0))
    store.put_schedule(schedule, T0)
    k = store.keys
    _store_as_before_the_buckets(store, schedule, "3|" + encode_definition(schedule), T0)
    store.put_schedule(schedule, T0 + 120_000, new=False)
    assert store.redis.hget(k.definitions(), schedule.id).startswith("4.")
    assert not store.redis.exists(k.due())
    assert store.next_fire_ms(schedule.id) == T0 + 120_000
    assert store.gauges().due == 1


def test_a_backup_reads_the_next_fire_from_either_form(store: Store) -> None:
    before, bucketed = webhook_schedule(once(T0 + 1)), webhook_schedule(once(T0))
    store.put_schedule(before, T0 + 1)
    store.redis.set(f"{store.keys.due()}:seq", BUCKET)  # the next one gets a bucket of its own
    store.put_schedule(bucketed, T0)
    _store_as_before_the_buckets(store, before, json.dumps(before.to_dict()), T0 + 1)
    _, rows = store.account_snapshot("acct")
    assert sorted((d["id"], next_ms) for d, next_ms, _ in rows) == sorted(
        [(bucketed.id, T0), (before.id, T0 + 1)]
    )

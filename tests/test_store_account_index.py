"""An account's index in buckets of at most 128 (lua/lib/account_index.lua): lists, cursors,
counts, quotas, deletes, purges and backups stay right across buckets, and an index stored
before the buckets (one sorted set) still reads, beside the buckets that follow it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.config import Config
from shared.errors import QuotaExceeded
from shared.model import Schedule
from shared.store import Commit, Store
from tests.factories import cron, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_700_000_000_000
AT = {"now_ms": T0, "republish_after_ms": 60_000}
BUCKET = 128
N = 2 * BUCKET + 44  # three buckets, the last one part full


def _put(store: Store, n: int, first_ms: int = T0, **fields: object) -> list[Schedule]:
    made = [
        webhook_schedule(cron("0 * * * *"), created_ms=first_ms + i, **fields) for i in range(n)
    ]
    store.put_schedules((schedule, None) for schedule in made)
    return made


def _ids(schedules: list[Schedule]) -> list[str]:
    return [s.id for s in schedules]


def _pages(store: Store, count: int) -> list[str]:
    """Every id, read page by page with the score cursor."""
    seen: list[str] = []
    after = None
    for _ in range(1000):  # bounded: a cursor that never moves fails, not hangs
        page = store.page_schedule_ids("acct", "test", after, count)
        if not page:
            return seen
        seen += [member for member, _ in page]
        after = page[-1][1]
    raise AssertionError("the cursor did not reach the end")


def test_schedules_fill_buckets_of_at_most_128_in_compact_sorted_sets(store: Store) -> None:
    _put(store, N)
    root = store.keys.account_index("acct", "test")
    buckets = store.redis.zrange(f"{root}:buckets", 0, -1)
    assert buckets == ["0", "1", "2"]
    sizes = [store.redis.zcard(f"{root}:{n}") for n in buckets]
    assert sizes == [BUCKET, BUCKET, N - 2 * BUCKET]
    assert {store.redis.object("encoding", f"{root}:{n}") for n in buckets} <= {
        "listpack",
        "ziplist",
    }
    assert not store.redis.exists(root)  # the old single sorted set is not written


def test_lists_offsets_cursors_and_counts_span_the_buckets(store: Store) -> None:
    ids = _ids(_put(store, N))
    assert store.list_schedule_ids("acct", "test", 0, -1) == ids
    assert store.list_schedule_ids("acct", "test", 120, 20) == ids[120:140]
    assert store.list_schedule_ids("acct", "test", N - 5, 50) == ids[N - 5 :]
    assert _pages(store, 50) == ids
    assert _pages(store, BUCKET) == ids
    assert _pages(store, 1) == ids
    assert store.count_schedules("acct", "test") == N


def test_deletes_empty_a_bucket_and_lists_and_counts_follow(store: Store) -> None:
    made = _put(store, N)
    for schedule in made[BUCKET : 2 * BUCKET]:  # the whole middle bucket
        assert store.delete_schedule(schedule)
    assert store.delete_schedule(made[0])
    left = _ids(made[1:BUCKET] + made[2 * BUCKET :])
    root = store.keys.account_index("acct", "test")
    assert store.redis.zrange(f"{root}:buckets", 0, -1) == ["0", "2"]
    assert not store.redis.exists(f"{root}:1")
    assert store.list_schedule_ids("acct", "test", 0, -1) == left
    assert _pages(store, 7) == left
    assert store.count_schedules("acct", "test") == len(left)


def test_deleting_every_schedule_leaves_no_index_keys(store: Store) -> None:
    made = _put(store, BUCKET + 1)
    for schedule in made:
        assert store.delete_schedule(schedule)
    root = store.keys.account_index("acct", "test")
    assert store.redis.keys(f"{root}*") == []
    assert store.count_schedules("acct", "test") == 0
    again = _ids(_put(store, 3, first_ms=T0 + 10_000))
    assert store.list_schedule_ids("acct", "test", 0, -1) == again


def test_a_quota_counts_every_bucket(store: Store) -> None:
    _put(store, BUCKET + 2)
    extra = webhook_schedule(cron("0 * * * *"), created_ms=T0 + 1_000)
    with pytest.raises(QuotaExceeded):
        store.put_schedule(extra, None, quota=BUCKET + 2)
    store.put_schedule(extra, None, quota=BUCKET + 3)
    assert store.count_schedules("acct", "test") == BUCKET + 3


def test_an_edit_keeps_the_schedule_in_its_place(store: Store) -> None:
    made = _put(store, BUCKET + 5)
    edited = made[3]
    store.put_schedule(edited, T0 + 60_000, new=False)
    assert store.list_schedule_ids("acct", "test", 0, -1) == _ids(made)
    assert store.count_schedules("acct", "test") == BUCKET + 5


def test_a_purge_at_commit_removes_the_schedule_from_its_bucket(store: Store) -> None:
    made = _put(store, BUCKET + 5)
    purged = made[2]
    store.put_schedule(purged, T0)  # due now
    store.claim(T0, 1000, 10, "a")
    commit = Commit(
        purged.id, None, "webhooks", "m", ("acct", "test"), created_ms=purged.created_ms
    )
    assert store.commit("a", [commit], **AT) == [1]
    left = _ids(made[:2] + made[3:])
    assert store.list_schedule_ids("acct", "test", 0, -1) == left
    assert store.count_schedules("acct", "test") == len(left)


def test_a_purge_without_the_created_ms_still_finds_its_bucket(store: Store) -> None:
    made = _put(store, 2 * BUCKET + 1)
    purged = made[-1]
    store.put_schedule(purged, T0)
    store.claim(T0, 1000, 10, "a")
    assert store.commit("a", [Commit(purged.id, None, "webhooks", "m", ("acct", "test"))], **AT)
    assert store.list_schedule_ids("acct", "test", 0, -1) == _ids(made[:-1])


def test_a_delete_with_a_created_ms_past_its_order_still_finds_its_bucket(store: Store) -> None:
    made = _put(store, 2 * BUCKET + 1)
    moved = replace(made[5], created_ms=T0 + 10_000)  # a hint past every order in the index
    assert store.delete_schedule(moved)
    assert store.list_schedule_ids("acct", "test", 0, -1) == _ids(made[:5] + made[6:])
    assert store.count_schedules("acct", "test") == 2 * BUCKET


def test_a_backup_reads_every_bucket(store: Store) -> None:
    made = _put(store, BUCKET + 9)
    _, rows = store.account_snapshot("acct")
    assert sorted(row[0]["id"] for row in rows) == sorted(_ids(made))


def _store_the_old_way(store: Store, made: list[Schedule]) -> None:
    """The index as stored before the buckets: one sorted set, schedule id -> created ms."""
    root = store.keys.account_index("acct", "test")
    store.redis.delete(f"{root}:count", *(f"{root}:{n}" for n in range(3)), f"{root}:buckets")
    store.redis.zadd(root, {s.id: s.created_ms for s in made})


def test_an_index_stored_before_the_buckets_reads_with_the_buckets_after_it(store: Store) -> None:
    old = _put(store, 5)
    _store_the_old_way(store, old)
    new = _put(store, BUCKET + 1, first_ms=T0)  # same created ms: ordered after the old ones
    ids = _ids(old + new)
    assert store.list_schedule_ids("acct", "test", 0, -1) == ids
    assert store.list_schedule_ids("acct", "test", 3, 4) == ids[3:7]
    assert _pages(store, 3) == ids
    assert store.count_schedules("acct", "test") == len(ids)
    with pytest.raises(QuotaExceeded):
        store.put_schedule(webhook_schedule(cron("0 * * * *")), None, quota=len(ids))
    assert store.delete_schedule(old[1]) and store.delete_schedule(new[0])
    left = [i for i in ids if i not in (old[1].id, new[0].id)]
    assert store.list_schedule_ids("acct", "test", 0, -1) == left
    assert store.count_schedules("acct", "test") == len(left)
    _, rows = store.account_snapshot("acct")
    assert sorted(row[0]["id"] for row in rows) == sorted(left)


def test_with_partitions_each_keeps_buckets_and_the_lists_merge(config: Config) -> None:
    store = Store.from_url(
        config.redis_url, config.key_prefix, outbox=config.broker_is_apart, partitions=4
    )
    ids = _ids(_put(store, N))
    assert store.list_schedule_ids("acct", "test", 0, -1) == ids
    assert store.list_schedule_ids("acct", "test", 200, 30) == ids[200:230]
    assert _pages(store, 40) == ids
    assert store.count_schedules("acct", "test") == N
    made = store.get_schedules(ids[:10])
    for schedule in made:
        assert store.delete_schedule(schedule)
    assert store.list_schedule_ids("acct", "test", 0, -1) == ids[10:]
    assert store.count_schedules("acct", "test") == N - 10

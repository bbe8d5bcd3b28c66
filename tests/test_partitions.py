"""Partitions on a real Redis (SCHEDULER_PARTITIONS): where a schedule and its executions live,
account-level reads merged across partitions, quotas, the beat ticking every partition, and the
refusal of a changed partition count."""

from __future__ import annotations

import pytest

from scheduler_beat.dispatch import Dispatcher
from shared.config import Config
from shared.errors import ConfigError, QuotaExceeded
from shared.execution import execution_id
from shared.model import RunRecord
from shared.store import Finish, Keys, Store
from shared.store.partitions import partition_of
from tests.factories import once, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_800_000_000_000
P = 4

pytestmark = pytest.mark.usefixtures("leaves_redis_empty")  # P > 1 recorded


@pytest.fixture
def parts(config: Config) -> Store:
    return Store.from_url(config.redis_url, config.key_prefix, partitions=P)


def spread_ids(count: int) -> list[str]:
    """Schedule ids that fall in every one of the P partitions."""
    ids = [f"sched-{n}" for n in range(count)]
    assert {partition_of(i, P) for i in ids} == set(range(P))
    return ids


def test_one_partition_keeps_the_layout_of_every_earlier_release() -> None:
    assert partition_of("anything", 1) == 0
    assert Keys("sched").due() == "sched:{0}:due"


def test_an_execution_lives_in_its_schedules_partition() -> None:
    for n in range(50):
        sid = f"s-{n}"
        own = partition_of(sid, 16)
        for ident in (execution_id(sid, T0), f"{sid}:run-1-ab", f"{sid}:{T0}:on-failure-3"):
            assert partition_of(ident, 16) == own


def test_a_schedule_and_its_keys_go_to_its_partition(parts: Store) -> None:
    for sid in spread_ids(40):
        parts.put_schedule(webhook_schedule(once(T0), id=sid), T0)
        k = parts.partition_keys[partition_of(sid, P)]
        assert parts.redis.zscore(k.due_bucket("0"), sid) == T0  # its partition's first bucket
        assert parts.get_schedule(sid) is not None and parts.next_fire_ms(sid) == T0
    # each partition holds its share, under its own hash tag
    held = [int(parts.redis.get(k.due_count()) or 0) for k in parts.partition_keys]
    assert sum(held) == 40 and all(held)
    assert [k.due() for k in parts.partition_keys] == [f"sched:{{{p}}}:due" for p in range(P)]


def test_lists_and_cursors_follow_creation_order_across_partitions(parts: Store) -> None:
    ids = spread_ids(30)
    for n, sid in enumerate(ids):  # a ms apart: listed in that order, whatever the partition
        parts.put_schedule(webhook_schedule(once(T0), id=sid, created_ms=T0 + n), T0)
    assert parts.list_schedule_ids("acct", "test", 0, -1) == ids
    assert parts.list_schedule_ids("acct", "test", 5, 10) == ids[5:15]
    assert parts.count_schedules("acct", "test") == 30
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = parts.page_schedule_ids("acct", "test", after, 7)
        seen += [sid for sid, _ in page]
        if len(page) < 7:
            break
        after = page[-1][1]
    assert seen == ids


def test_schedules_created_in_one_ms_list_once_each(parts: Store) -> None:
    ids = spread_ids(30)
    for sid in ids:  # the same ms: each partition's in the order made, partitions interleaved
        parts.put_schedule(webhook_schedule(once(T0), id=sid, created_ms=T0), T0)
    listed = parts.list_schedule_ids("acct", "test", 0, -1)
    assert sorted(listed) == sorted(ids)
    for p in range(P):
        assert [s for s in listed if partition_of(s, P) == p] == [
            s for s in ids if partition_of(s, P) == p
        ]
    pages = [parts.page_schedule_ids("acct", "test", None, 13)]
    pages.append(parts.page_schedule_ids("acct", "test", pages[-1][-1][1], 13))
    pages.append(parts.page_schedule_ids("acct", "test", pages[-1][-1][1], 13))
    assert [sid for page in pages for sid, _ in page] == listed


def test_the_quota_counts_every_partition(parts: Store) -> None:
    ids = spread_ids(12)
    for sid in ids[:5]:
        parts.put_schedule(webhook_schedule(once(T0), id=sid), T0, quota=5)
    for sid in ids[5:]:  # whatever partition the sixth falls in
        with pytest.raises(QuotaExceeded):
            parts.put_schedule(webhook_schedule(once(T0), id=sid), T0, quota=5)
    # an edit of one already there is no new schedule
    parts.put_schedule(webhook_schedule(once(T0 + 1), id=ids[0]), T0 + 1, quota=5, new=False)
    assert parts.count_schedules("acct", "test") == 5


def test_the_beat_fires_every_partition_once(parts: Store) -> None:
    ids = spread_ids(40)
    for sid in ids:
        parts.put_schedule(webhook_schedule(once(T0), id=sid), T0)
    result = Dispatcher(parts, Config()).tick(T0)
    assert (result.claimed, result.published) == (40, 40)
    assert Dispatcher(parts, Config()).tick(T0 + 1).claimed == 0
    for sid in ids:
        assert parts.ledger_deadline(execution_id(sid, T0)) is not None
    assert parts.ledger_size() == 40
    assert parts.gauges().published == 40


def test_a_beat_ticks_only_the_partitions_it_holds(parts: Store) -> None:
    ids = spread_ids(40)
    for sid in ids:
        parts.put_schedule(webhook_schedule(once(T0), id=sid), T0)
    mine = [id_ for id_ in ids if partition_of(id_, P) in (1, 3)]
    result = Dispatcher(parts, Config(), lambda: (1, 3)).tick(T0)
    assert result.published == len(mine)
    assert all(parts.next_fire_ms(sid) is None for sid in mine)
    assert all(parts.next_fire_ms(sid) == T0 for sid in ids if sid not in mine)


def record(sid: str, n: int) -> RunRecord:
    return RunRecord(
        id=execution_id(sid, T0 + n), schedule=sid, due_ms=T0 + n, claimed_ms=T0 + n,
        started_ms=T0 + n, finished_ms=T0 + n, status="failed", attempt=1, error="HTTP 500",
    )  # fmt: skip


def test_dead_letters_and_recent_runs_merge_across_partitions(parts: Store) -> None:
    ids = spread_ids(12)
    finishes = []
    for n, sid in enumerate(ids):
        execution = {"id": execution_id(sid, T0 + n), "account": "acct", "dialect": "test"}
        dead = {"id": execution["id"], "execution": execution}
        finishes.append(Finish(record(sid, n), "dead", "acct", payload=dead))
    for finish in finishes:  # one at a time: each dies a ms later than the last
        parts.finish_executions([finish], now_ms=finish.record.due_ms, history_cap=10,
                                retention_s=60)  # fmt: skip
    newest_first = [execution_id(sid, T0 + n) for n, sid in reversed(list(enumerate(ids)))]
    assert [d["id"] for d in parts.dead_letters(0, 100)] == newest_first
    assert [d["id"] for d in parts.dead_letters(2, 3, ("acct", "test"))] == newest_first[2:5]
    assert [r.id for r in parts.account_runs("acct")] == newest_first
    assert parts.dead_letter(newest_first[0]) is not None
    assert parts.delete_dead_letter(newest_first[0])
    assert parts.gauges().dead == 11


def test_task_log_ids_stay_unique_per_account_across_partitions(parts: Store) -> None:
    ids = spread_ids(8)
    logged = [
        parts.log_task(sid, {"m": sid}, account="acct", cap=10, retention_s=60) for sid in ids
    ]
    assert len(set(logged)) == len(logged)
    again = parts.log_task(ids[0], {"m": "again"}, account="acct", cap=10, retention_s=60)
    assert again > logged[0]
    assert [e["log_id"] for e in parts.task_log_entries(ids[0])] == [again, logged[0]]


def test_a_changed_partition_count_is_refused(config: Config, parts: Store) -> None:
    parts.check_partitions()  # first start: P recorded
    one = Store.from_url(config.redis_url, config.key_prefix, partitions=1)
    with pytest.raises(ConfigError, match="SCHEDULER_PARTITIONS=1, but this Redis holds data in 4"):
        one.check_partitions()
    parts.check_partitions()  # the same count starts


def test_data_of_an_earlier_release_counts_as_one_partition(config: Config) -> None:
    one = Store.from_url(config.redis_url, config.key_prefix)
    one.put_schedule(webhook_schedule(once(T0)), T0)  # stored before the count was recorded
    four = Store.from_url(config.redis_url, config.key_prefix, partitions=4)
    with pytest.raises(ConfigError, match="set SCHEDULER_PARTITIONS=1"):
        four.check_partitions()
    one.check_partitions()


def test_a_relay_moves_the_outboxes_of_the_partitions_it_holds(
    clean_redis: str, broker_redis_url: str
) -> None:
    from shared.broker.redis_broker import RedisPublisher
    from shared.broker.relay import Relay
    from shared.messages import build_message

    store = Store.from_url(clean_redis, outbox=True, partitions=P)
    broker = Store.from_url(broker_redis_url).redis
    broker.flushdb()
    ids = spread_ids(12)
    for sid in ids:  # each message lands in its schedule's partition's outbox
        exec_id = execution_id(sid, T0)
        message = build_message("workers.webhooks.deliver", exec_id, "webhooks", [{"id": exec_id}])
        store.publish_recorded(exec_id, "webhooks", message, T0 + 10_000)
    held = [0, 2]
    relay = Relay(store, RedisPublisher(broker_redis_url, 5.0), partitions=lambda: held)
    mine = [sid for sid in ids if partition_of(sid, P) in held]
    assert relay.step() == len(mine)
    relay.step()  # trims what the broker confirmed
    assert store.outbox_depths()["webhooks"] == len(ids) - len(mine)
    held[:] = [1, 3]  # the partitions this beat holds now (a rebalance)
    assert relay.step() == len(ids) - len(mine)
    relay.stop()
    assert store.outbox_depths()["webhooks"] == 0
    assert broker.llen("webhooks") == len(ids)

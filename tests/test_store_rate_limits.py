"""``rate_limits.lua`` on a real Redis: one request's checks and counts in one round trip."""

from __future__ import annotations

from shared.store import Counter, Store


def counter(name: str, limit: int = 3, window_s: int = 60) -> Counter:
    return Counter(name, limit, window_s)


def test_charged_counters_count_and_report_their_reset(store: Store) -> None:
    minute, second = counter("LIMITER/a/60", 3, 60), counter("LIMITER/a/1", 3, 1)
    first = store.rate_limit_tally([], [], [minute, second])
    again = store.rate_limit_tally([], [], [minute, second])
    assert first.refused is None and first.charged == ((1, 60), (1, 1))
    (minute_count, minute_reset_s), (second_count, second_reset_s) = again.charged
    assert (minute_count, second_count) == (2, 2)
    assert 1 <= minute_reset_s <= 60 and second_reset_s == 1


def test_a_used_up_check_refuses_and_counts_nothing(store: Store) -> None:
    failures, account = counter("LIMITER/failed/1.2.3.4", 2), counter("LIMITER/acct/x")
    store.rate_limit_tally([], [failures, failures], [])  # two failures counted, nothing charged
    tally = store.rate_limit_tally([counter("LIMITER/other"), failures], [], [account])
    assert tally.refused == 1  # the second check, from 0
    assert 1 <= tally.refused_reset_s <= 60
    assert tally.charged == ()
    assert store.rate_limit_tally([], [], [account]).charged[0][0] == 1  # not counted before


def test_counters_expire_with_their_window(store: Store) -> None:
    store.rate_limit_tally([], [counter("LIMITER/w", 3, 7)], [])
    key = f"{store.keys.rate_limits()}:LIMITER/w"
    assert int(store.redis.get(key)) == 1
    assert 1 <= store.redis.ttl(key) <= 7

"""``rate_limits.lua`` on a real Redis: one request's checks and counts, and its HTTP Basic
credentials' check, in one round trip."""

from __future__ import annotations

from shared.accounts import create_account, digest
from shared.store import Counter, Group, Store
from tests.support import now_ms

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)


def counter(name: str, limit: int = 3, window_s: int = 60) -> Counter:
    return Counter(name, limit, window_s)


def test_charged_counters_count_and_report_their_reset(store: Store) -> None:
    minute, second = counter("LIMITER/a/60", 3, 60), counter("LIMITER/a/1", 3, 1)
    first = store.rate_limit_tally([], Group(charges=[minute, second]))
    again = store.rate_limit_tally([], Group(charges=[minute, second]))
    assert first.refused is None and first.charged == ((1, 60), (1, 1))
    (minute_count, minute_reset_s), (second_count, second_reset_s) = again.charged
    assert (minute_count, second_count) == (2, 2)
    assert 1 <= minute_reset_s <= 60 and second_reset_s == 1


def test_a_used_up_check_refuses_and_counts_nothing(store: Store) -> None:
    failures, account = counter("LIMITER/failed/1.2.3.4", 2), counter("LIMITER/acct/x")
    store.rate_limit_tally([], Group(counts=[failures, failures]))  # two failures, no charge
    tally = store.rate_limit_tally([counter("LIMITER/other"), failures], Group(charges=[account]))
    assert tally.refused == 1  # the second check, from 0
    assert 1 <= tally.refused_reset_s <= 60
    assert tally.charged == ()
    assert store.rate_limit_tally([], Group(charges=[account])).charged[0][0] == 1  # not before


def test_counters_expire_with_their_window(store: Store) -> None:
    store.rate_limit_tally([], Group(counts=[counter("LIMITER/w", 3, 7)]))
    key = f"{store.keys.rate_limits()}:LIMITER/w"
    assert int(store.redis.get(key)) == 1
    assert 1 <= store.redis.ttl(key) <= 7


def test_right_credentials_return_the_account_and_count_the_passed_group(store: Store) -> None:
    creds = create_account(store, "acme", secret_key=b"k" * 32, now_ms=now_ms())
    passed, failed = (
        Group(charges=[counter("LIMITER/acct")]),
        Group(charges=[counter("LIMITER/ip")]),
    )
    right = (creds["appkey"], digest(creds["master_secret"]))
    tally = store.rate_limit_tally([], passed, failed, credentials=right)
    assert tally.account == store.get_account(creds["appkey"])
    assert tally.charged == ((1, 60),)
    assert store.rate_limit_tally([], Group(charges=[counter("LIMITER/ip")])).charged[0][0] == 1


def test_wrong_credentials_count_the_failed_group(store: Store) -> None:
    creds = create_account(store, "acme", secret_key=b"k" * 32, now_ms=now_ms())
    failures = counter("LIMITER/failures")
    passed = Group(charges=[counter("LIMITER/acct")])
    failed = Group(counts=[failures], charges=[counter("LIMITER/ip")])
    for appkey, secret in ((creds["appkey"], "wrong"), ("nobody", creds["master_secret"])):
        tally = store.rate_limit_tally([], passed, failed, credentials=(appkey, digest(secret)))
        assert tally.account is None and tally.refused is None
    assert tally.charged[0][0] == 2  # the failed group's charge, twice
    assert store.rate_limit_tally([], Group(charges=[counter("LIMITER/acct")])).charged[0][0] == 1
    assert store.rate_limit_tally([failures], Group()).refused is None  # 2 of 3 used
    assert store.rate_limit_tally([counter("LIMITER/failures", 2)], Group()).refused == 0

"""How a chaos run adds up (tests/chaos_figures.py): lost, duplicates, re-sends after a fault,
retries and lag, from hand-made receipts."""

from __future__ import annotations

from tests.chaos_figures import FAULT_WINDOW_MS, Figures, Job, account
from tests.chaos_receivers import Receipt

DUE = 1_000_000


def ok(webhook_id: str, at_ms: int) -> Receipt:
    return Receipt(webhook_id, "ok", at_ms, True)


def test_each_job_answered_once_is_delivered_with_its_lag() -> None:
    jobs = [Job("a:1", "ok", DUE), Job("b:1", "ok", DUE + 100)]
    figures = account(Figures("t"), jobs, [ok("a:1", DUE + 50), ok("b:1", DUE + 1100)], set(), [])
    assert (figures.jobs, figures.delivered, figures.lost, figures.duplicates) == (2, 2, 0, 0)
    assert (figures.lag_p50_s, figures.lag_max_s) == (1.0, 1.0)


def test_a_job_never_answered_is_lost_and_a_failing_receivers_job_must_be_a_dead_letter() -> None:
    jobs = [Job("a:1", "ok", DUE), Job("h:1", "hang", DUE), Job("r:1", "reset", DUE)]
    failing = [Receipt("h:1", "hang", DUE, False), Receipt("h:1", "hang", DUE + 2000, False)]
    figures = account(Figures("t"), jobs, failing, {"h:1"}, [])
    assert figures.lost_ids == ["a:1", "r:1"]
    assert (figures.dead_lettered, figures.retries, figures.duplicates) == (1, 1, 0)


def test_a_repeat_after_a_2xx_is_a_duplicate_unless_a_kill_followed_that_answer() -> None:
    jobs = [Job("a:1", "ok", DUE), Job("b:1", "ok", DUE)]
    receipts = [
        ok("a:1", DUE + 10),
        ok("a:1", DUE + 6000),  # a worker killed 5 ms after the first 2xx: re-sent by design
        ok("b:1", DUE + 4000),
        ok("b:1", DUE + 9000),  # the next fault came long after its first answer: run twice
    ]
    faults = [DUE + 15, DUE + 4000 + FAULT_WINDOW_MS + 2000]
    figures = account(Figures("t"), jobs, receipts, set(), faults)
    assert (figures.resent_after_fault, figures.duplicate_ids) == (1, ["b:1"])
    assert figures.delivered == 2


def test_a_repeat_of_an_attempt_its_worker_gave_back_is_a_resend() -> None:
    receipts = [ok("a:1", DUE + 10), ok("a:1", DUE + 3000)]  # Redis away past its patience
    figures = account(Figures("t"), [Job("a:1", "ok", DUE)], receipts, set(), [], {"a:1"})
    assert (figures.resent_after_fault, figures.duplicates) == (1, 0)

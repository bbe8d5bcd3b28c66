"""What a chaos run adds up to, from what the receivers saw and what the store kept.

- **lost**: an acknowledged job to a healthy receiver that never got a 2xx answer from it, or
  one to a failing receiver (hanging, resetting) that is not a dead letter after its attempts.
- **duplicate execution**: a ``webhook-id`` received again after a receipt that was answered
  2xx, unless the attempt was cut off before its worker recorded the answer, which leaves it
  unrecorded, so it runs again, by design (the only other choice is to lose it). Those are
  counted apart (``resent_after_fault``): a worker SIGKILLed within ``FAULT_WINDOW_MS`` of the
  answer, or a worker that could not record the run (Redis away longer than its patience,
  ``SCHEDULER_REDIS_OUTAGE_RETRY_S``) and gave the message back (its log says so). Receivers
  dedupe them by ``webhook-id``.
- **retries**: requests to failing receivers after their first, which the retry policy sends.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

from tests.chaos_receivers import Receipt

# From a receiver's 2xx to its run record takes milliseconds; a kill up to this long after it
# (or a little before: the request may still sit in the receiver's socket) may have cut it off.
FAULT_WINDOW_MS = 2000
FAULT_LEAD_MS = 200


@dataclass(frozen=True)
class Job:
    execution_id: str  # "<schedule id>:<due ms>": the callback's webhook-id
    kind: str  # the receiver: ok | hang | reset
    due_ms: int


@dataclass
class Figures:
    scenario: str
    jobs: int = 0  # acknowledged (stored) jobs
    refused: int = 0  # creations refused while Redis was down (not acknowledged)
    delivered: int = 0  # healthy receivers' jobs answered 2xx
    dead_lettered: int = 0  # failing receivers' jobs, dead letters after their last attempt
    lost: int = 0
    duplicates: int = 0
    resent_after_fault: int = 0
    retries: int = 0
    republished: int = 0  # copies the beats published again (their log lines)
    reruns: int = 0  # attempts run again because their delivery was lost (workers' log lines)
    lag_p50_s: float = 0.0  # due instant -> first 2xx receipt, healthy receivers' jobs
    lag_p99_s: float = 0.0
    lag_max_s: float = 0.0
    kills: dict[str, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)  # processes that exited by themselves
    lost_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    slowest: list[tuple[str, float]] = field(default_factory=list)  # the 5 latest: id, lag (s)

    def line(self) -> str:
        kills = " ".join(f"{role} {n}" for role, n in sorted(self.kills.items())) or "none"
        return (
            f"chaos {self.scenario}: jobs {self.jobs} (refused {self.refused}), delivered "
            f"{self.delivered}, dead-lettered {self.dead_lettered}, lost {self.lost}, duplicate "
            f"executions {self.duplicates}, re-sent after a fault mid-attempt "
            f"{self.resent_after_fault}, retries {self.retries}, re-published {self.republished}, "
            f"re-run {self.reruns}, lag p50 {self.lag_p50_s:.2f} s p99 {self.lag_p99_s:.2f} s "
            f"max {self.lag_max_s:.2f} s; kills: {kills}; crashes {len(self.crashes)}"
        )

    def json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def account(
    figures: Figures,
    jobs: list[Job],
    receipts: list[Receipt],
    dead: set[str],
    kills_ms: list[int],
    given_back: Collection[str] = (),
) -> Figures:
    """Fill ``figures`` from the acknowledged jobs, every receipt, the dead letters among the
    jobs' executions, when workers were killed and which executions a worker gave back."""
    by_id: dict[str, list[Receipt]] = defaultdict(list)
    for receipt in sorted(receipts, key=lambda r: r.at_ms):
        by_id[receipt.webhook_id].append(receipt)
    kills = sorted(kills_ms)
    lags: dict[str, int] = {}
    figures.jobs = len(jobs)
    for job in jobs:
        seen = by_id.get(job.execution_id, [])
        if job.kind != "ok":
            figures.retries += max(0, len(seen) - 1)
            if job.execution_id in dead:
                figures.dead_lettered += 1
            else:
                figures.lost_ids.append(job.execution_id)
            continue
        first = next((r for r in seen if r.ok), None)
        if first is None:
            figures.lost_ids.append(job.execution_id)
            continue
        figures.delivered += 1
        lags[job.execution_id] = first.at_ms - job.due_ms
        again = seen[seen.index(first) :]
        _count_again(figures, job, again, kills, job.execution_id in given_back)
    figures.lost = len(figures.lost_ids)
    figures.duplicates = len(figures.duplicate_ids)
    figures.lag_p50_s, figures.lag_p99_s, figures.lag_max_s = _lag_figures(list(lags.values()))
    figures.slowest = [(i, lag / 1000) for i, lag in sorted(lags.items(), key=lambda x: -x[1])[:5]]
    return figures


def _count_again(
    figures: Figures, job: Job, seen: list[Receipt], kills: list[int], given_back: bool
) -> None:
    """``seen`` starts at the first 2xx receipt: each later one repeats an answered request."""
    for before, _again in zip(seen, seen[1:], strict=False):
        window = (before.at_ms - FAULT_LEAD_MS, before.at_ms + FAULT_WINDOW_MS)
        if given_back or _fault_between(kills, *window):
            figures.resent_after_fault += 1
        else:
            figures.duplicate_ids.append(job.execution_id)


def _fault_between(faults: list[int], start_ms: int, end_ms: int) -> bool:
    at = bisect.bisect_left(faults, start_ms)
    return at < len(faults) and faults[at] <= end_ms


def _lag_figures(lags_ms: list[int]) -> tuple[float, float, float]:
    if not lags_ms:
        return 0.0, 0.0, 0.0
    ordered = sorted(lags_ms)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1000

    return at(0.50), at(0.99), ordered[-1] / 1000

"""One beat tick, independent of Celery's beat loop: claim what is due, publish it, advance it.

``Dispatcher.tick(now_ms)`` is the whole algorithm and takes ``now`` as an argument, so tests and
the benchmark drive it directly. Per tick: one ``claim.lua`` call (an idle tick ends there), Python
computes each claimed schedule's next fire and builds its message, one ``commit.lua`` call
publishes, records in the ledger and advances everything atomically per entry. When the claim
says a ledger deadline has passed, one ``republish.lua`` call publishes those messages again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared import metrics, misfire
from shared.config import Config
from shared.contract import BATCH_TASK_BY_TARGET, TASK_BY_TARGET, RunStatus
from shared.errors import SchedulerError
from shared.execution import execution_id, new_execution
from shared.messages import build_message
from shared.model import DEFAULT_OVERLAP, RunRecord, Schedule
from shared.store import (
    ClaimedEntry,
    ClaimResult,
    Commit,
    CommitStatus,
    Finish,
    RepublishOutcome,
    Store,
    decode_definition,
    dumps,
    new_token,
)
from shared.timing import next_schedule_fire

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickResult:
    claimed: int
    published: int
    lost: int  # claims another beat took over (lease expired): not published by us
    next_wake_ms: int | None
    batch_full: bool  # more may be due right now: tick again without sleeping
    republished: int = 0  # messages published again: no worker began them in time


@dataclass(frozen=True)
class _Plan:
    commit: Commit
    skipped: RunRecord | None = None  # a misfire the schedule's policy skips
    account: str = ""  # the schedule's account (the skipped record goes to its history too)
    due_ms: int | None = None  # a schedule's fire (not a retry): for the lag metric
    misfire: str | None = None  # the policy applied to a missed fire, for the misfire metric


# The batch task of a delivery task, for retries (the retry index names the task, not a kind).
BATCH_TASK_BY_TASK: dict[str, str] = {
    TASK_BY_TARGET[kind]: task for kind, task in BATCH_TASK_BY_TARGET.items()
}

# The first claim after an idle spell is small, so the first fire goes out within milliseconds
# even when thousands fall due at once; each full batch doubles the next, up to beat_batch.
FIRST_BATCH = 100
# Overdue ledger entries taken per republish.lua call (each may scan its queue's oldest end).
REPUBLISH_BATCH = 200


class Dispatcher:
    def __init__(
        self,
        store: Store,
        config: Config,
        partitions: Callable[[], Sequence[int]] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        # The partitions this beat ticks now (scheduler_beat.partitions); default: all of them.
        self.partitions = partitions or (lambda: range(store.partitions))
        self._batches: dict[int, int] = {}

    def tick(self, now_ms: int) -> TickResult:
        """One tick of every partition this beat holds (one, unless SCHEDULER_PARTITIONS > 1)."""
        results = [self.tick_partition(now_ms, p) for p in self.partitions()]
        return TickResult(
            claimed=sum(r.claimed for r in results),
            published=sum(r.published for r in results),
            lost=sum(r.lost for r in results),
            next_wake_ms=_earliest(*(r.next_wake_ms for r in results)),
            batch_full=any(r.batch_full for r in results),
            republished=sum(r.republished for r in results),
        )

    def tick_partition(self, now_ms: int, partition: int = 0) -> TickResult:
        token = new_token()
        limit = self._batches.get(partition, min(FIRST_BATCH, self.config.beat_batch))
        claim = self.store.claim(now_ms, self.config.beat_lease_ms, limit, token, partition)
        full = len(claim.entries) >= limit
        self._batches[partition] = min(limit * 2, self.config.beat_batch) if full else FIRST_BATCH
        if claim.entries and self.config.beat_pause_after_claim_ms:
            time.sleep(self.config.beat_pause_after_claim_ms / 1000)
        plans = [self._plan(entry, now_ms, f"{token}.{n}") for n, entry in enumerate(claim.entries)]
        statuses = self.store.commit(
            token,
            [plan.commit for plan in plans],
            now_ms=now_ms,
            republish_after_ms=self._bound_ms,
            batch_size=self.config.delivery_batch,
            partition=partition,
        )
        committed = [(p, s) for p, s in zip(plans, statuses, strict=True) if s.committed]
        self._record_skips(committed, now_ms)
        sent = [p for p, s in committed if s == CommitStatus.COMMITTED]
        _record_metrics(sent, [p for p, _ in committed])
        republished, republish_ms, more = self._republish(claim, now_ms, partition)
        published = sum(1 for p in sent if p.commit.queue)
        if published:  # what this tick recorded falls due then, unless begun before
            republish_ms = _earliest(republish_ms, now_ms + self._bound_ms)
        # The claim's answer was read before this commit advanced what it claimed: a schedule
        # alone in the due index (every 2 s, say) would else wait for the longest sleep.
        advanced_ms = _earliest(*(p.commit.next_ms for p, _ in committed))
        return TickResult(
            claimed=len(claim.entries),
            published=published,
            lost=statuses.count(CommitStatus.LEASE_LOST),
            next_wake_ms=_earliest(claim.next_wake_ms, republish_ms, advanced_ms),
            batch_full=full or more,
            republished=republished,
        )

    @property
    def _bound_ms(self) -> int:
        return self.config.republish_after_ms

    def _republish(
        self, claim: ClaimResult, now_ms: int, partition: int
    ) -> tuple[int, int | None, bool]:
        """Publish again what no worker began in time, if the claim saw a deadline pass:
        (copies published, the ledger's next deadline, whether more may be overdue)."""
        if claim.republish_ms is None or claim.republish_ms > now_ms:
            return 0, claim.republish_ms, False
        result = self.store.republish_overdue(now_ms, REPUBLISH_BATCH, self._bound_ms, partition)
        copies = 0
        for entry in result.entries:
            if entry.outcome == RepublishOutcome.REPUBLISHED:
                copies += 1
                metrics.record_republished(entry.queue)
                log.warning(
                    "republished %s on %s (copy %d): no worker began it within its deadline",
                    entry.ledger_id,
                    entry.queue,
                    entry.copies,
                    extra={"execution": entry.ledger_id},
                )
            elif entry.outcome == RepublishOutcome.UNKNOWN:
                log.error("ledger entry %s has no message or queue: dropped", entry.ledger_id)
        return copies, result.next_deadline_ms, len(result.entries) >= REPUBLISH_BATCH

    def _plan(self, entry: ClaimedEntry, now_ms: int, tag: str) -> _Plan:
        try:
            if entry.kind == "r":
                return _Plan(self._plan_retry(entry, tag))
            return self._plan_fire(entry, now_ms, tag)
        except (SchedulerError, ValueError, KeyError, TypeError, RecursionError) as exc:
            # One unreadable entry must not block every other fire of the tick (or of every
            # tick after it): take it out of the due index, say so loudly, publish nothing.
            log.error("beat: dropping unreadable %s %s: %s", entry.kind, entry.member, exc)
            return _Plan(Commit(entry.member, None, None, counts_as_run=False))

    def _plan_retry(self, entry: ClaimedEntry, tag: str) -> Commit:
        retry = json.loads(entry.body)
        execution = retry["execution"]
        task_id = f"{execution['id']}/{execution['attempt']}"
        message = build_message(retry["task"], task_id, retry["queue"], [execution], tag)
        batch_task = BATCH_TASK_BY_TASK.get(retry["task"], "")
        return Commit(
            member=entry.member,
            next_ms=None,
            queue=retry["queue"],
            message=message,
            ledger_id=entry.member,  # a retry's execution id, or a job lease check's id
            # The retries of one tick share a message as its fires do: a receiver that keeps
            # failing sends many back at once, and a message of one costs Celery's whole
            # per-message work each.
            batch=dumps(execution) if batch_task else "",
            batch_task=batch_task,
        )

    def _plan_fire(self, entry: ClaimedEntry, now_ms: int, tag: str) -> _Plan:
        schedule = decode_definition(entry.member, entry.body)
        # After downtime, the schedule's misfire policy says what runs and where it resumes.
        grace_ms = self.config.misfire_grace_ms
        decision = misfire.decide(schedule, entry.due_ms, now_ms, grace_ms, entry.runs)
        purge = (schedule.account, schedule.dialect) if schedule.purge_when_done else None
        retain_s = self.config.history_retention_s
        skipped = None
        if decision.skipped:
            late_ms = max(0, now_ms - entry.due_ms)
            reason = f"missed by {late_ms / 1000:.1f}s (beat was down); {decision.reason}"
            exec_id = execution_id(schedule.id, entry.due_ms)
            skipped = _skipped_record(schedule.id, exec_id, entry.due_ms, now_ms, reason)
        if decision.run_ms is None:
            next_ms = next_schedule_fire(schedule, decision.after_ms, entry.runs)
            commit = Commit(
                entry.member,
                next_ms,
                None,
                purge_from=purge,
                created_ms=schedule.created_ms,
                counts_as_run=False,
                retain_s=retain_s,
            )
        else:
            next_ms = next_schedule_fire(schedule, decision.after_ms, entry.runs + 1)
            commit = self._fire_commit(entry, schedule, decision.run_ms, next_ms, now_ms, tag)
        return _Plan(
            commit,
            skipped=skipped,
            account=schedule.account,
            due_ms=entry.due_ms if decision.run_ms is None else decision.run_ms,
            misfire=decision.policy,
        )

    def _fire_commit(
        self,
        entry: ClaimedEntry,
        schedule: Schedule,
        run_ms: int,
        next_ms: int | None,
        now_ms: int,
        tag: str,
    ) -> Commit:
        """Publish the execution of ``run_ms`` (the claimed fire, or the one a catch-up window
        runs in its place) and advance to ``next_ms``."""
        exec_id = execution_id(schedule.id, run_ms)
        execution = new_execution(schedule, exec_id, run_ms, now_ms, max(0, now_ms - run_ms))
        queue = schedule.target.queue
        task = TASK_BY_TARGET[schedule.target.kind]
        body = execution.to_message()
        message = build_message(task, exec_id, queue, [body], tag)
        batch_task = BATCH_TASK_BY_TARGET.get(schedule.target.kind, "")
        purge = (schedule.account, schedule.dialect) if schedule.purge_when_done else None
        return Commit(
            entry.member,
            next_ms,
            queue,
            message,
            purge,
            retain_s=self.config.history_retention_s,
            ledger_id=exec_id,
            batch=dumps(body) if batch_task else "",
            batch_task=batch_task,
            overlap="" if schedule.overlap == DEFAULT_OVERLAP else schedule.overlap,
            created_ms=schedule.created_ms,
        )

    def _record_skips(self, committed: list[tuple[_Plan, CommitStatus]], now_ms: int) -> None:
        """Record the fires this tick did not run: missed ones its misfire policy skipped, and
        those its overlap policy skipped (the previous execution still running), in one round
        trip."""
        records = [plan.skipped for plan, _ in committed if plan.skipped]
        for record in records:
            log.warning(
                "misfire skipped: schedule %s due %s was %d ms late",
                record.schedule,
                record.due_ms,
                record.late_ms,
                extra={"schedule": record.schedule, "execution": record.id},
            )
        for plan, status in committed:
            if status == CommitStatus.SKIPPED:
                record = _overlap_skipped_record(plan, now_ms)
                log.info("overlap: %s skipped: %s", record.id, record.error,
                         extra={"schedule": record.schedule, "execution": record.id})  # fmt: skip
                records.append(record)
        accounts = {plan.commit.member: plan.account for plan, _ in committed}
        self.store.finish_executions(
            [Finish(record, "done", accounts[record.schedule]) for record in records],
            now_ms=now_ms,
            history_cap=self.config.history_max_runs,
            retention_s=self.config.history_retention_s,
            republish_after_ms=self._bound_ms,
        )


def _earliest(*instants: int | None) -> int | None:
    present = [t for t in instants if t is not None]
    return min(present) if present else None


def _record_metrics(sent: list[_Plan], committed: list[_Plan]) -> None:
    """Count what this tick committed: fires published (with their lag) and misfires."""
    metrics.record_published(
        (p.commit.queue, p.due_ms) for p in sent if p.commit.queue and p.due_ms is not None
    )
    for plan in committed:
        if plan.misfire:
            metrics.record_misfire(plan.misfire)


OVERLAP_REASONS = {
    "skip": "the previous execution of this schedule was still running (overlap: skip)",
    "buffer_one": "a fire already waited for the previous execution to end (overlap: "
    "buffer_one, buffer full)",
}


def _overlap_skipped_record(plan: _Plan, now_ms: int) -> RunRecord:
    """The record of a fire ``commit.lua`` skipped for its schedule's overlap policy."""
    commit = plan.commit
    due_ms = plan.due_ms if plan.due_ms is not None else now_ms
    reason = OVERLAP_REASONS.get(commit.overlap, "overlap")
    return _skipped_record(commit.member, commit.ledger_id, due_ms, now_ms, reason)


def _skipped_record(
    schedule_id: str, exec_id: str, due_ms: int, now_ms: int, reason: str
) -> RunRecord:
    """A fire that did not run (missed during downtime, or skipped for overlap), as a run."""
    return RunRecord(
        id=exec_id,
        schedule=schedule_id,
        due_ms=due_ms,
        claimed_ms=now_ms,
        started_ms=None,
        finished_ms=now_ms,
        status=RunStatus.SKIPPED,
        attempt=0,
        error=reason,
        late_ms=max(0, now_ms - due_ms),
    )

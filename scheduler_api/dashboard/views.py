"""What the overview page shows: the account's schedules (of every API and the CLI), their
executions with the attempts of each, a timeline with a time axis, and the dead letters.

Instants are shown in UTC (the page says so); spans and descriptions come from
``shared.describe``, as the CLI's tables have them."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from shared import schedules
from shared.contract import DIALECTS, RunStatus
from shared.describe import (
    describe_policies,
    describe_target,
    describe_trigger,
    duration,
    schedule_name,
    schedule_state,
)
from shared.execution import NOTICES
from shared.model import RunRecord, Schedule
from shared.store import Store
from shared.timing import format_iso_utc, next_schedule_fire

HOUR_MS = 3600 * 1000
SCHEDULES_SHOWN = 1000
UPCOMING_PER_SCHEDULE = 5
UPCOMING_SHOWN = 50
ATTEMPTS_READ = 200  # the account's latest attempts (all the store keeps), grouped below
EXECUTIONS_SHOWN = 50
DEAD_LETTERS_SHOWN = 50
TIMELINE_PAST_MS = 6 * HOUR_MS  # executions of the last hours, left of "now"
TIMELINE_AHEAD_MS = 24 * HOUR_MS  # upcoming fires, right of it
TIMELINE_TICK_MS = 3 * HOUR_MS


@dataclass(frozen=True)
class ScheduleRow:
    id: str
    name: str
    dialect: str
    state: str
    trigger: str
    policies: str  # what it asks beyond the defaults (overlap, retries, ...), or ""
    target: str
    next_fire: str


@dataclass(frozen=True)
class Fire:
    """An upcoming fire of one schedule."""

    at_ms: int
    schedule: str
    name: str
    wait: str  # from now, for a person

    @property
    def label(self) -> str:
        return self.name or self.schedule


@dataclass
class ExecutionView:
    """One execution (a fire, a run-now, a redrive) and its attempts, oldest first."""

    id: str
    schedule: str
    name: str
    attempts: list[RunRecord] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.schedule

    @property
    def due_ms(self) -> int:
        return self.attempts[0].due_ms

    @property
    def status(self) -> str:
        return str(self.attempts[-1].status)

    @property
    def first_lag(self) -> str | None:
        """From due to the start of its first attempt: how late the engine was."""
        first = self.attempts[0]
        return duration(first.started_ms - first.due_ms) if first.started_ms else None

    @property
    def to_success(self) -> str | None:
        """From due to the end of the attempt that succeeded (retries included)."""
        for attempt in self.attempts:
            if attempt.status == RunStatus.SUCCEEDED and attempt.finished_ms:
                return duration(attempt.finished_ms - attempt.due_ms)
        return None


@dataclass(frozen=True)
class Mark:
    x_pct: str
    kind: str  # a CSS class: "upcoming" or "status-<status>"
    title: str


@dataclass(frozen=True)
class Timeline:
    marks: list[Mark]
    ticks: list[tuple[str, str]]  # (x %, "HH:MM" UTC)
    now_pct: str


def utc(ms: int) -> str:
    return format_iso_utc(ms)


@dataclass(frozen=True)
class Owned:
    """A schedule of the account with what the store says of it now."""

    schedule: Schedule
    next_ms: int | None
    fired: int


def account_schedules(store: Store, appkey: str) -> list[Owned]:
    """Every schedule of the account (whatever API or the CLI made it), oldest first, with its
    next fire and fires so far (one round trip for all)."""
    owned = schedules.list_all(store, appkey)[:SCHEDULES_SHOWN]
    facts = store.fire_facts([schedule.id for schedule in owned])
    return [Owned(schedule, *fact) for schedule, fact in zip(owned, facts, strict=True)]


def schedule_rows(owned: list[Owned]) -> list[ScheduleRow]:
    return [
        ScheduleRow(
            id=item.schedule.id,
            name=schedule_name(item.schedule),
            dialect=item.schedule.dialect,
            state=schedule_state(item.schedule, item.next_ms),
            trigger=describe_trigger(item.schedule.trigger, utc),
            policies=describe_policies(item.schedule),
            target=describe_target(item.schedule, width=120),
            next_fire=utc(item.next_ms) if item.next_ms is not None else "none",
        )
        for item in owned
    ]


def upcoming_fires(owned: list[Owned], now_ms: int) -> list[Fire]:
    """The soonest fires of all schedules within the timeline's horizon (at most
    ``UPCOMING_PER_SCHEDULE`` of one), soonest first. A heap of each schedule's next fire: only
    the fires shown are computed, however many schedules there are."""
    horizon = now_ms + TIMELINE_AHEAD_MS
    due = [(item.next_ms, index, 0) for index, item in enumerate(owned) if item.next_ms]
    heapq.heapify(due)
    fires: list[Fire] = []
    while due and len(fires) < UPCOMING_SHOWN:
        at, index, nth = heapq.heappop(due)
        if at > horizon:
            break
        item = owned[index]
        wait = f"in {duration(max(0, at - now_ms))}"
        fires.append(Fire(at, item.schedule.id, schedule_name(item.schedule), wait))
        following = next_schedule_fire(item.schedule, at, item.fired + nth + 1)
        if following is not None and nth + 1 < UPCOMING_PER_SCHEDULE:
            heapq.heappush(due, (following, index, nth + 1))
    return fires


def executions(store: Store, appkey: str, owned: list[Owned]) -> list[ExecutionView]:
    """The account's latest executions, newest first, each with its attempts; also those of
    schedules already purged (named by their retired definition while it is kept)."""
    names = Names(store, owned)
    grouped: dict[str, ExecutionView] = {}
    for run in store.account_runs(appkey, ATTEMPTS_READ):  # newest first
        if run.id not in grouped:
            if len(grouped) == EXECUTIONS_SHOWN:
                break
            grouped[run.id] = ExecutionView(run.id, run.schedule, names.of(run.schedule))
        grouped[run.id].attempts.insert(0, run)
    return list(grouped.values())


class Names:
    """Schedule id -> name, for the account's schedules and those already purged (by their
    retired definition, while it is kept: as long as their history)."""

    def __init__(self, store: Store, owned: list[Owned]) -> None:
        self.store = store
        self.names = {item.schedule.id: schedule_name(item.schedule) for item in owned}

    def of(self, schedule_id: str) -> str:
        """A failure notice's runs (``<schedule>:on-failure``) are named after their schedule."""
        if schedule_id.endswith(NOTICES):
            name = self.of(schedule_id.removesuffix(NOTICES))
            return f"failure notice of {name}" if name else "failure notice"
        if schedule_id not in self.names:
            retired = self.store.retired_schedule(schedule_id)
            self.names[schedule_id] = schedule_name(retired) if retired else ""
        return self.names[schedule_id]


def timeline(fires: list[Fire], done: list[ExecutionView], now_ms: int) -> Timeline:
    """Past executions and upcoming fires on one axis from ``now - 6 h`` to ``now + 24 h``,
    with a tick every 3 hours (whole UTC hours)."""
    start = now_ms - TIMELINE_PAST_MS
    span = TIMELINE_PAST_MS + TIMELINE_AHEAD_MS

    def x(ms: int) -> str:
        return f"{min(100.0, max(0.0, (ms - start) / span * 100)):.2f}"

    marks = [
        Mark(x(run.due_ms), f"status-{run.status}", f"{utc(run.due_ms)} {run.label}: {run.status}")
        for run in done
        if run.due_ms >= start
    ]
    marks += [Mark(x(fire.at_ms), "upcoming", f"{utc(fire.at_ms)} {fire.label}") for fire in fires]
    first_tick = start - start % TIMELINE_TICK_MS + TIMELINE_TICK_MS
    ticks = [(x(at), utc(at)[11:16]) for at in range(first_tick, start + span, TIMELINE_TICK_MS)]
    return Timeline(marks, ticks, x(now_ms))


def dead_letters(store: Store, appkey: str, owned: list[Owned]) -> list[dict[str, Any]]:
    letters = [
        letter
        for dialect in DIALECTS
        for letter in store.dead_letters(0, DEAD_LETTERS_SHOWN, owner=(appkey, dialect))
    ]
    letters.sort(key=lambda letter: letter["died_ms"], reverse=True)
    names = Names(store, owned)
    return [
        {
            "execution": letter["execution"]["id"],
            "schedule": letter["execution"]["schedule"],
            "name": names.of(letter["execution"]["schedule"]),
            "attempts": letter["execution"].get("attempt"),
            "died": utc(letter["died_ms"]),
            "error": letter.get("error") or "",
        }
        for letter in letters[:DEAD_LETTERS_SHOWN]
    ]

"""What the schedule commands show of a schedule, a run and a dead letter: one function per
thing and mode. ``--json`` rows keep the stored form (instants as UTC ms) plus ISO 8601 UTC
strings of what was computed; table rows are short strings in local time."""

from __future__ import annotations

from typing import Any

from scheduler_cli.output import duration, iso_utc, local_time, shorten
from shared.describe import describe_target, describe_trigger, schedule_name, schedule_state
from shared.model import RunRecord, Schedule
from shared.store import Store

STATES = ("active", "paused", "done")  # ScheduleFacts.state
SCHEDULE_COLUMNS = {
    "id": "ID",
    "dialect": "API",
    "name": "NAME",
    "state": "STATE",
    "trigger": "TRIGGER",
    "target": "TARGET",
    "next": "NEXT FIRE",
}
RUN_COLUMNS = {
    "id": "EXECUTION",
    "attempt": "ATTEMPT",
    "status": "STATUS",
    "due": "DUE",
    "lag": "LAG",
    "took": "TOOK",
    "error": "ERROR",
}
DEAD_LETTER_COLUMNS = {
    "id": "EXECUTION",
    "account": "ACCOUNT",
    "attempts": "ATTEMPTS",
    "died": "DIED",
    "error": "ERROR",
}


class ScheduleFacts:
    """A schedule with what the store says about it now: next fire, fires so far."""

    def __init__(self, schedule: Schedule, next_ms: int | None, fired: int) -> None:
        self.schedule = schedule
        self.next_ms = next_ms
        self.fired = fired

    @classmethod
    def read(cls, store: Store, owned: list[Schedule]) -> list[ScheduleFacts]:
        facts = store.fire_facts([schedule.id for schedule in owned])
        return [cls(schedule, *fact) for schedule, fact in zip(owned, facts, strict=True)]

    @classmethod
    def of(cls, store: Store, schedule: Schedule) -> ScheduleFacts:
        return cls.read(store, [schedule])[0]

    @property
    def state(self) -> str:
        return schedule_state(self.schedule, self.next_ms)

    @property
    def name(self) -> str:
        return schedule_name(self.schedule)

    def json_row(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.to_dict(),
            "name": self.name,
            "state": self.state,
            "next": iso_utc(self.next_ms),
            "fired": self.fired,
        }

    def table_row(self) -> dict[str, Any]:
        return {
            "id": self.schedule.id,
            "dialect": self.schedule.dialect,
            "name": shorten(self.name, 30),
            "state": self.state,
            "trigger": describe_trigger(self.schedule.trigger, local_time),
            "target": describe_target(self.schedule),
            "next": local_time(self.next_ms),
        }


def run_json(run: RunRecord) -> dict[str, Any]:
    return run.to_dict()


def run_row(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "attempt": run.attempt,
        "status": run.status,
        "due": local_time(run.due_ms),
        "lag": duration(run.started_ms - run.due_ms) if run.started_ms else None,
        "took": (
            duration(run.finished_ms - run.started_ms)
            if run.started_ms and run.finished_ms
            else None
        ),
        "error": shorten(run.error),
    }


def dead_letter_row(letter: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A dead letter in a table; ``names``: appkey -> account name."""
    execution = letter.get("execution", {})
    appkey = execution.get("account", "")
    return {
        "id": execution.get("id"),
        "account": names.get(appkey, appkey),
        "attempts": execution.get("attempt"),
        "died": local_time(letter.get("died_ms")),
        "error": shorten(letter.get("error")),
    }


def dead_letter_json(letter: dict[str, Any]) -> dict[str, Any]:
    return {**letter, "died": iso_utc(letter.get("died_ms"))}

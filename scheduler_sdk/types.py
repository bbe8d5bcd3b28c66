"""The documents of the native API as typed dicts: what it answers (the schemas of
``/openapi.json``) and what it takes. Instants are ISO 8601 strings, as on the wire."""

# No ``from __future__ import annotations`` here: Python 3.11's TypedDict reads NotRequired only
# from evaluated annotations (``__required_keys__`` would list every key).
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

Item = TypeVar("Item")

Scope = Literal[
    "schedules:read",
    "schedules:write",
    "runs:read",
    "dead-letters:read",
    "dead-letters:write",
    "webhook-secret:write",
    "api-keys:read",
    "api-keys:write",
]


class CalendarItem(TypedDict, total=False):
    """One calendar rule (the task scheduler's repeat item); absent or None means any."""

    year: int | None
    month: int | None
    day: int | None
    week: int | None
    weekday: int | None
    hour: int | None
    minute: int | None
    start: str | None
    end: str | None
    interval_min: int | None


class Trigger(TypedDict, total=False):
    """Exactly one of ``at``, ``cron``, ``every`` (with an optional ``anchor``), ``rrule``,
    ``calendar``."""

    at: str
    cron: str
    every: str | int
    anchor: str
    rrule: str
    calendar: list[CalendarItem]


class Webhook(TypedDict):
    url: str
    method: NotRequired[Literal["POST", "PUT", "PATCH", "DELETE", "GET"]]
    headers: NotRequired[dict[str, str]]
    body: NotRequired[Any]
    content_type: NotRequired[str]


class Task(TypedDict):
    class_name: str
    data: NotRequired[Any]


class Beacon(TypedDict):
    tasks: list[Any]
    beacon_name: NotRequired[str]


class Target(TypedDict, total=False):
    """Exactly one of ``webhook``, ``push`` (the push document), ``task``, ``beacon``."""

    webhook: Webhook
    push: dict[str, Any]
    task: Task
    beacon: Beacon


class Retry(TypedDict, total=False):
    max_attempts: int
    initial_s: int
    max_s: int
    timeout_s: int


class ScheduleInput(TypedDict):
    """A schedule as ``create`` and ``replace`` take it (``update`` takes any part of it)."""

    name: str
    trigger: Trigger
    target: Target
    timezone: NotRequired[str]
    dst: NotRequired[Literal["cron", "skip"]]
    start: NotRequired[str]
    end: NotRequired[str]
    max_runs: NotRequired[int]
    jitter_s: NotRequired[int]
    overlap: NotRequired[Literal["allow_all", "skip", "buffer_one", "buffer_all"]]
    catchup_window_s: NotRequired[int]
    retry: NotRequired[Retry]
    on_failure: NotRequired[str]
    paused: NotRequired[bool]
    metadata: NotRequired[dict[str, Any]]


class Schedule(TypedDict):
    id: str
    name: str
    state: Literal["active", "paused", "done"]
    paused: bool
    trigger: Trigger
    target: Target
    timezone: str
    dst: Literal["cron", "skip"]
    overlap: Literal["allow_all", "skip", "buffer_one", "buffer_all"]
    next_fires: list[str]
    created: str
    updated: str
    start: NotRequired[str]
    end: NotRequired[str]
    max_runs: NotRequired[int]
    jitter_s: NotRequired[int]
    catchup_window_s: NotRequired[int]
    retry: NotRequired[Retry]
    on_failure: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]


class Run(TypedDict):
    execution: str
    attempt: int
    status: str
    scheduled: str
    late_ms: int
    started: NotRequired[str]
    finished: NotRequired[str]
    result: NotRequired[dict[str, Any]]
    error: NotRequired[str]
    reason: NotRequired[str]  # why a skipped (missed) fire was not run


class DeadLetter(TypedDict):
    execution: str
    schedule: str
    attempts: int | None
    scheduled: str
    died: str
    error: str | None


class Triggered(TypedDict):
    execution: str


class Backfilled(TypedDict):
    executions: list[str]  # oldest first


class Preview(TypedDict):
    timezone: str
    fires: list[str]


class ApiKey(TypedDict):
    id: str
    name: str
    scopes: list[Scope]
    created: str
    prefix: str
    key: NotRequired[str]  # only in the answer that made it


class Rotated(TypedDict):
    webhook_secret: str
    previous_valid_until: str


class FieldError(TypedDict):
    field: str
    detail: str


class Page(TypedDict, Generic[Item]):
    """One page of a listing; ``next_cursor`` asks for the next (None on the last)."""

    items: list[Item]
    next_cursor: str | None

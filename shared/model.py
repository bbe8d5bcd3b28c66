"""The core model every dialect maps onto: schedules, triggers, targets and run records.

Pure data, no I/O. Every instant is an ``int`` of UTC milliseconds since the epoch (``*_ms``), so
the store, the beat and the workers never handle naive or zoned datetimes; only ``shared.timing``
turns wall-clock times into instants. Each object round-trips through ``to_dict``/``from_dict`` as
compact JSON-able dicts (that is the stored form, so keep field names short and stable).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any, Literal

from shared.contract import QUEUE_BY_TARGET, Pool, RunStatus, TargetKind
from shared.errors import InvalidSchedule
from shared.policy import DEFAULT as DEFAULT_POLICY
from shared.policy import Policy

# --- triggers --------------------------------------------------------------------------------

DstPolicy = Literal["cron", "skip"]
DST_POLICIES: tuple[DstPolicy, ...] = ("cron", "skip")
DEFAULT_DST: DstPolicy = "cron"


@dataclass(frozen=True)
class OnceTrigger:
    """Fires exactly once, at ``at_ms``."""

    at_ms: int
    kind: Literal["once"] = "once"


@dataclass(frozen=True)
class CronTrigger:
    """A cron expression evaluated in an IANA time zone.

    ``expr`` is Unix 5-field (``min hour dom month dow``, dow 0 = Sunday) or Quartz 6/7-field
    (``sec min hour dom month dow [year]``, dow 1 = Sunday, with ``?``, ``L``, ``W``, ``#``). The
    field count tells which; ``shared.timing`` owns the parsing.

    ``dst`` says what a local time that does not exist or occurs twice does (``shared.timing``
    documents both): ``cron`` (default) as cronie does, ``skip`` skips the missing and fires the
    repeated once.
    """

    expr: str
    timezone: str = "UTC"
    dst: DstPolicy = DEFAULT_DST
    kind: Literal["cron"] = "cron"


@dataclass(frozen=True)
class RepeatItem:
    """One calendar rule of the task scheduler's ``repeat_items``.

    Each field is an ``int`` or ``None`` for ``*``. ``week`` is the week of the month (1 = days 1-7,
    2 = days 8-14, ... 5 = days 29-31), ``weekday`` 0-6 = Sunday-Saturday. ``start``/``end`` are
    inclusive local dates ``YYYY-MM-DD`` (``end`` ``None`` = open). ``interval_min``, when set,
    replaces the calendar fields: fire every that many minutes from local midnight of ``start``.
    """

    year: int | None = None
    month: int | None = None
    day: int | None = None
    week: int | None = None
    weekday: int | None = None
    hour: int | None = None
    minute: int | None = None
    start: str | None = None
    end: str | None = None
    interval_min: int | None = None


@dataclass(frozen=True)
class CalendarTrigger:
    """Fires at every local instant matching any of its items (a union), in ``timezone``.

    ``dst`` as a cron's (an item without hour or minute is a wildcard one); None, the default,
    keeps the task scheduler's rule: a time in a gap fires at its end, a repeated one once.
    """

    items: tuple[RepeatItem, ...]
    timezone: str = "UTC"
    dst: DstPolicy | None = None
    kind: Literal["calendar"] = "calendar"


@dataclass(frozen=True)
class IntervalTrigger:
    """Fires every ``every_ms``, at ``anchor_ms + k * every_ms`` (k >= 0)."""

    every_ms: int
    anchor_ms: int
    kind: Literal["interval"] = "interval"


@dataclass(frozen=True)
class InstantsTrigger:
    """Fires once at each of ``at_ms``: distinct UTC instants in increasing order (a one-shot
    that lands at several instants, e.g. one wall-clock time read in several time zones)."""

    at_ms: tuple[int, ...]
    kind: Literal["instants"] = "instants"


@dataclass(frozen=True)
class RRuleTrigger:
    """An RFC 5545 recurrence rule (``FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1``) in an IANA time zone,
    its first occurrence counted from ``dtstart_ms`` (the rule's DTSTART, read as wall-clock time
    in ``timezone``). ``shared.timing.rrule`` owns the parsing (python-dateutil's ``rrule``)."""

    rule: str
    dtstart_ms: int
    timezone: str = "UTC"
    kind: Literal["rrule"] = "rrule"


Trigger = (
    OnceTrigger | CronTrigger | CalendarTrigger | IntervalTrigger | InstantsTrigger | RRuleTrigger
)
_NO_DST = {"cron": DEFAULT_DST, "calendar": None}  # each kind's default dst, not stored


def trigger_to_dict(trigger: Trigger) -> dict[str, Any]:
    data = asdict(trigger)
    if isinstance(trigger, CalendarTrigger):
        data["items"] = [_compact(asdict(item)) for item in trigger.items]
    if isinstance(trigger, CronTrigger | CalendarTrigger) and trigger.dst == _NO_DST[trigger.kind]:
        del data["dst"]  # absent means default: schedules stored before the field read the same
    return data


def trigger_from_dict(data: dict[str, Any]) -> Trigger:
    kind = data.get("kind")
    fields = {k: v for k, v in data.items() if k != "kind"}
    try:
        if kind == "once":
            return OnceTrigger(**fields)
        if kind == "cron":
            return CronTrigger(**fields)
        if kind == "interval":
            return IntervalTrigger(**fields)
        if kind == "rrule":
            return RRuleTrigger(**fields)
        if kind == "instants":
            return InstantsTrigger(at_ms=tuple(fields.pop("at_ms")), **fields)
        if kind == "calendar":
            items = tuple(RepeatItem(**item) for item in fields.pop("items"))
            return CalendarTrigger(items=items, **fields)
    except (TypeError, KeyError) as exc:
        raise InvalidSchedule(f"trigger: {exc}") from exc
    raise InvalidSchedule(f"trigger: unknown kind {kind!r}")


# --- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a fire goes. ``kind`` picks the pool; ``spec`` is the kind's own pure data:

    - ``push``: ``{"push": {...}}`` the push document for the gateway;
    - ``webhook``: ``{"url", "data", "content_type", "signature", "method", "headers"}``
      (``method`` absent: POST; ``headers`` the schedule's own, see ``shared.header_values``);
    - ``task``: ``{"class_name", "data"}``;
    - ``beacon``: ``{"job": {...}}`` the job template queued for a beacon agent.
    """

    kind: TargetKind
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def queue(self) -> Pool:
        return QUEUE_BY_TARGET[self.kind]

    def client_json(self) -> dict[str, Any]:
        """The client's own JSON values in ``spec``, by the field name the client gave each:
        what ``shared.payload_limits`` checks before the target is stored."""
        spec = self.spec
        if self.kind == TargetKind.PUSH:
            return {"push": spec.get("push")}
        if self.kind == TargetKind.BEACON:
            return {"tasks": (spec.get("job") or {}).get("tasks")}
        return {"data": spec.get("data")}  # webhook (text) and task (any JSON)


# --- schedules -------------------------------------------------------------------------------

MisfirePolicy = Literal["coalesce", "skip"]
# What a fire does while the schedule's previous execution has not finished (running or
# retrying): run anyway (``allow_all``), be recorded as skipped (``skip``), wait for it (at most
# one waits: ``buffer_one``; every one, in order: ``buffer_all``). The store's commit.lua and
# finish_execution.lua apply it.
OverlapPolicy = Literal["allow_all", "skip", "buffer_one", "buffer_all"]
OVERLAP_POLICIES: tuple[OverlapPolicy, ...] = ("allow_all", "skip", "buffer_one", "buffer_all")
DEFAULT_OVERLAP: OverlapPolicy = "allow_all"


@dataclass(frozen=True)
class Schedule:
    """A schedule definition, as the API writes it and the beat reads it.

    ``start_ms``/``end_ms`` bound the fires (inclusive); ``max_runs`` stops it after that many
    fires. ``jitter_ms`` moves each fire by a stable pseudo-random offset in [0, jitter_ms), the
    same for the same schedule and instant (``shared.timing``). ``misfire`` says what to do with
    a fire missed during downtime: ``coalesce`` runs it once, late; ``skip`` records it as
    skipped; ``catchup_ms``, when set, takes over: each missed fire at most that late runs, with
    its own instant, and older ones are recorded as missed (``shared.misfire``). ``overlap``
    says what a fire does while the previous execution of the schedule is still running or
    retrying (see ``OverlapPolicy``; runs on demand, backfills and redrives are not fires and
    do not wait).
    ``purge_when_done`` deletes the definition once it has no future fire (the webhook dialect's
    rule). ``doc`` keeps the dialect's own fields that the engine does not interpret (names, user
    ids, the original request), so adapters can render their answers from the stored schedule
    alone. ``policy`` is how its executions are retried and whom their death is told
    (``shared.policy``; the default is the server's settings).
    """

    id: str
    account: str
    dialect: str
    trigger: Trigger
    target: Target
    created_ms: int
    enabled: bool = True
    start_ms: int | None = None
    end_ms: int | None = None
    max_runs: int | None = None
    misfire: MisfirePolicy = "coalesce"
    purge_when_done: bool = False
    doc: dict[str, Any] = field(default_factory=dict)
    jitter_ms: int | None = None
    catchup_ms: int | None = None
    overlap: OverlapPolicy = DEFAULT_OVERLAP
    policy: Policy = DEFAULT_POLICY  # frozen: one instance for all

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "account": self.account,
            "dialect": self.dialect,
            "trigger": trigger_to_dict(self.trigger),
            "target": {"kind": self.target.kind, "spec": self.target.spec},
            "created_ms": self.created_ms,
            "enabled": self.enabled,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "max_runs": self.max_runs,
            "misfire": self.misfire,
            "purge_when_done": self.purge_when_done,
            "doc": self.doc,
            "jitter_ms": self.jitter_ms or None,
            "catchup_ms": self.catchup_ms,
            "overlap": None if self.overlap == DEFAULT_OVERLAP else self.overlap,
            "policy": self.policy.to_dict() or None,
        }
        return _compact(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        try:
            target = data["target"]
            return cls(
                id=data["id"],
                account=data["account"],
                dialect=data["dialect"],
                trigger=trigger_from_dict(data["trigger"]),
                target=Target(kind=TargetKind(target["kind"]), spec=target.get("spec", {})),
                created_ms=data["created_ms"],
                enabled=data.get("enabled", True),
                start_ms=data.get("start_ms"),
                end_ms=data.get("end_ms"),
                max_runs=data.get("max_runs"),
                misfire=data.get("misfire", "coalesce"),
                purge_when_done=data.get("purge_when_done", False),
                doc=data.get("doc", {}),
                jitter_ms=data.get("jitter_ms"),
                catchup_ms=data.get("catchup_ms"),
                overlap=_overlap(data.get("overlap", DEFAULT_OVERLAP)),
                policy=Policy.from_dict(data.get("policy")),
            )
        except KeyError as exc:
            raise InvalidSchedule(f"schedule: missing {exc}") from exc
        except ValueError as exc:  # a target kind no pool delivers
            raise InvalidSchedule(f"schedule: {exc}") from exc


def _overlap(value: Any) -> OverlapPolicy:
    if value not in OVERLAP_POLICIES:
        raise InvalidSchedule(f"schedule: unknown overlap policy {value!r}")
    return value  # type: ignore[no-any-return]


# --- run records ----------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One attempt of one execution, written to its schedule's history."""

    id: str  # execution id
    schedule: str
    due_ms: int
    claimed_ms: int | None
    started_ms: int | None
    finished_ms: int | None
    status: RunStatus
    attempt: int
    result: Any = None
    error: str | None = None
    late_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: its deep copy cost a worker ~10 us per attempt
        # (the dict is serialized at once).
        return _compact({name: getattr(self, name) for name in _RUN_RECORD_FIELDS})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        fields: dict[str, Any] = {
            "claimed_ms": None,
            "started_ms": None,
            "finished_ms": None,
            "result": None,
            "error": None,
            "late_ms": 0,
        }
        fields.update(data)
        fields["status"] = RunStatus(fields["status"])
        return cls(**fields)


_RUN_RECORD_FIELDS = tuple(f.name for f in dataclass_fields(RunRecord))


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values: the stored form stays small, and absent means default."""
    return {k: v for k, v in data.items() if v is not None}

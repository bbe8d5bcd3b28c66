"""The core verbs every dialect adapter calls: validate, place in the due index, read back.

Adapters build a ``Schedule`` from their own request shape and call these; the rules that hold
for every dialect (a trigger must parse and still fire, callback targets must be safe, quotas)
live here once.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from shared import payload_limits
from shared.callback_check import check_callback
from shared.config import Config
from shared.contract import DIALECTS, TASK_BY_TARGET, TargetKind
from shared.errors import InvalidSchedule, NoFutureFire, NotFound
from shared.execution import new_execution, retry_payload
from shared.header_values import check_header_value, check_headers
from shared.messages import build_message
from shared.model import Schedule
from shared.store import Store
from shared.timing import next_schedule_fire, validate_trigger

# The whole stored definition: the client's JSON fields (each at most SCHEDULER_JSON_MAX_BYTES)
# and what an adapter adds (a push's zone plan, the dialect's own fields) stay well below this.
STORED_MAX_BYTES = 1024 * 1024
WEBHOOK_METHODS = ("POST", "PUT", "PATCH", "DELETE", "GET")


def first_fire(schedule: Schedule, at_ms: int) -> int | None:
    """The first fire at or after ``at_ms`` (a one-shot due right now still counts)."""
    return next_schedule_fire(schedule, at_ms - 1, 0)


def validate(schedule: Schedule, config: Config, at_ms: int) -> int | None:
    """Check what every dialect requires; return the schedule's first fire (None if paused)."""
    check_payload(schedule, config)
    validate_trigger(schedule.trigger)
    if schedule.target.kind == TargetKind.WEBHOOK:
        check_webhook(schedule.target.spec, config)
    check_policy(schedule, config)
    next_ms = first_fire(schedule, at_ms)
    if next_ms is None:
        raise NoFutureFire(
            "trigger: it has no future fire", field="trigger", reason="it has no future fire"
        )
    return next_ms if schedule.enabled else None


def check_webhook(spec: dict[str, Any], config: Config) -> None:
    for name in ("content_type", "signature"):
        if name in spec:
            check_header_value(name, spec[name])
    if "headers" in spec:
        check_headers("headers", spec["headers"])
    if spec.get("method", "POST") not in WEBHOOK_METHODS:
        raise InvalidSchedule(f"method: one of {', '.join(WEBHOOK_METHODS)}")
    check_callback(spec.get("url", ""), tuple(config.target_allowlist))


def check_policy(schedule: Schedule, config: Config) -> None:
    """A policy the server can apply: an attempt no longer than its own limit, a failure URL
    that the address rules let through (checked again, pinned, at each call)."""
    policy = schedule.policy
    timeout = policy.retry.timeout_s
    if timeout is not None and timeout > config.attempt_time_limit_s:
        limit = f"{config.attempt_time_limit_s:g}"
        raise InvalidSchedule(
            f"retry.timeout_s: at most {limit} s (this server's SCHEDULER_ATTEMPT_TIME_LIMIT_S)"
        )
    if timeout is not None and schedule.target.kind == TargetKind.BEACON:
        raise InvalidSchedule("retry.timeout_s: a beacon job's time is its agent's to bound")
    if policy.on_failure is not None:
        try:
            check_callback(policy.on_failure, tuple(config.target_allowlist))
        except InvalidSchedule as exc:
            raise InvalidSchedule(f"on_failure: {_reason(exc)}") from None


def _reason(error: InvalidSchedule) -> str:
    """An address refusal's reason without the field it names (``url: ...``)."""
    return str(error).removeprefix("url: ")


def check_payload(schedule: Schedule, config: Config) -> None:
    """The JSON rule (``shared.payload_limits``) on the client's fields, then on the whole
    stored form: nothing a pool could not decode, pickle or deliver is ever stored."""
    payload_limits.check_fields(schedule.target.client_json(), config.json_max_bytes)
    payload_limits.check_json(
        "schedule", schedule.to_dict(), STORED_MAX_BYTES, payload_limits.MESSAGE_MAX_DEPTH
    )


def create(
    store: Store, config: Config, schedule: Schedule, *, now_ms: int, quota: int | None = None
) -> int | None:
    """Store a new schedule at ``now_ms``; returns its first fire (None while it is disabled).
    Raises InvalidSchedule or QuotaExceeded."""
    next_ms = validate(schedule, config, now_ms)
    limit = config.max_schedules_per_account if quota is None else quota
    store.put_schedule(schedule, next_ms, quota=limit, new=True)
    return next_ms


def replace_schedule(
    store: Store, config: Config, schedule: Schedule, *, now_ms: int
) -> int | None:
    """Replace an existing schedule's definition (same id and account); its next fire after
    ``now_ms`` is computed at once and returned, and the beat picks the change up on its next
    tick."""
    current = get(store, schedule.account, schedule.id)
    updated = replace(schedule, created_ms=current.created_ms)
    next_ms = validate(updated, config, now_ms)
    store.put_schedule(updated, next_ms, new=False)
    return next_ms


def get(
    store: Store,
    account: str,
    schedule_id: str,
    dialect: str | None = None,
    *,
    include_retired: bool = False,
) -> Schedule:
    """The account's schedule (of ``dialect``, when given); another account's or dialect's is
    reported as not found. ``include_retired`` also finds one purged after its last fire (kept
    as long as its history), so a one-shot's runs stay readable once it is gone."""
    schedule = store.get_schedule(schedule_id)
    if schedule is None and include_retired:
        schedule = store.retired_schedule(schedule_id)
    if schedule is None or schedule.account != account or dialect not in (None, schedule.dialect):
        raise NotFound(f"no schedule {schedule_id!r}")
    return schedule


def delete(store: Store, account: str, schedule_id: str) -> Schedule:
    schedule = get(store, account, schedule_id)
    store.delete_schedule(schedule)
    return schedule


def run_now(
    store: Store,
    config: Config,
    schedule: Schedule,
    at_ms: int,
    context: dict[str, Any] | None = None,
) -> str:
    """Run ``schedule`` once now, outside its trigger (enabled or not): one Celery message on
    its target's queue, execution id ``<schedule id>:run-<at_ms>-<random>`` (never the id of a
    fire, so deduplication can't confuse the two, nor two runs asked for in one millisecond), the
    same body a fire has, plus the caller's ``context`` (who asked); recorded in the ledger like a
    fire. Returns the execution id."""
    exec_id = f"{schedule.id}:run-{at_ms}-{secrets.token_hex(4)}"
    execution = replace(new_execution(schedule, exec_id, at_ms, at_ms), context=context)
    queue = schedule.target.queue
    message = build_message(
        TASK_BY_TARGET[schedule.target.kind], exec_id, queue, [execution.to_message()]
    )
    deadline = at_ms + int(config.republish_after_s * 1000)
    store.publish_recorded(exec_id, queue, message, deadline)
    return exec_id


def redrive(store: Store, execution_id: str, account: str | None = None, *, now_ms: int) -> None:
    """Send a dead letter back for a fresh series of attempts, starting at ``now_ms``. With
    ``account``, only that account's dead letter: another account's is NotFound, like one that
    does not exist (or was redriven meanwhile)."""
    letter = store.dead_letter(execution_id)
    redriven = (
        letter is not None
        and account in (None, letter["execution"].get("account"))
        and store.redrive(execution_id, now_ms, retry_payload(letter["execution"], 1))
    )
    if not redriven:
        raise NotFound(f"no dead letter {execution_id!r}")


def discard_dead_letter(store: Store, execution_id: str, account: str | None = None) -> None:
    """Drop a dead letter for good. With ``account``, only that account's (another's is
    NotFound, like one that does not exist)."""
    letter = store.dead_letter(execution_id)
    owned = letter is not None and account in (None, letter["execution"].get("account"))
    if not owned or not store.delete_dead_letter(execution_id):
        raise NotFound(f"no dead letter {execution_id!r}")


# --- pause, resume, preview, list: the same for every dialect ------------------------------


def pause(store: Store, account: str, schedule_id: str) -> Schedule:
    """Stop a schedule firing (it leaves the due index; its definition, run count and history
    stay). Pausing a paused schedule changes nothing. A fire the beat claimed just before is
    still delivered: the beat's commit sees the edit and does not advance the schedule."""
    schedule = get(store, account, schedule_id)
    if schedule.enabled:
        schedule = replace(schedule, enabled=False)
        store.put_schedule(schedule, None, new=False)
    return schedule


def resume(store: Store, account: str, schedule_id: str, *, now_ms: int) -> int | None:
    """Let a paused schedule fire again, from ``now_ms`` on: fires that fell due while it was
    paused are not run. Returns its next fire; NoFutureFire if it has none left (it stays
    paused)."""
    schedule = get(store, account, schedule_id)
    if schedule.enabled:
        return store.next_fire_ms(schedule_id)
    resumed = replace(schedule, enabled=True)
    next_ms = next_schedule_fire(resumed, now_ms - 1, store.run_count(schedule_id))
    if next_ms is None:
        raise NoFutureFire(
            "trigger: it has no future fire", field="trigger", reason="it has no future fire"
        )
    store.put_schedule(resumed, next_ms, new=False)
    return next_ms


def preview(schedule: Schedule, after_ms: int, count: int, runs_done: int = 0) -> list[int]:
    """The next ``count`` fires of ``schedule`` after ``after_ms`` (fewer if it ends), bounded
    by its start, end and max_runs; a paused schedule's too (what it would do once resumed).
    Pure: an unsaved schedule can be previewed."""
    fires: list[int] = []
    fire_ms = next_schedule_fire(schedule, after_ms, runs_done)
    while fire_ms is not None and len(fires) < count:
        fires.append(fire_ms)
        fire_ms = next_schedule_fire(schedule, fire_ms, runs_done + len(fires))
    return fires


def list_all(store: Store, account: str) -> list[Schedule]:
    """Every schedule of the account, whatever API made it, oldest first."""
    ids = [sid for dialect in DIALECTS for sid in store.list_schedule_ids(account, dialect, 0, -1)]
    return sorted(store.get_schedules(ids), key=lambda s: (s.created_ms, s.id))


BACKFILL_MAX = 1000  # fires one backfill may run


def backfill(
    store: Store, config: Config, schedule: Schedule, start_ms: int, end_ms: int, *, now_ms: int
) -> list[str]:
    """Run every fire of ``schedule`` in the past range [start_ms, end_ms] now, paced
    ``config.backfill_pace_ms`` apart, each with its own instant and execution id
    (``<schedule id>:backfill-<instant>``, never a fire's); whether it is paused or not, and
    whatever its max_runs. Returns the execution ids, oldest instant first."""
    if end_ms > now_ms:
        raise InvalidSchedule("end: must not be in the future", field="end")
    if start_ms > end_ms:
        raise InvalidSchedule("end: is before start", field="end")
    unbounded = replace(schedule, max_runs=None)
    instants: list[int] = []
    fire_ms = next_schedule_fire(unbounded, start_ms - 1, 0)
    while fire_ms is not None and fire_ms <= end_ms:
        if len(instants) == BACKFILL_MAX:
            raise InvalidSchedule(
                f"start: the range holds more than {BACKFILL_MAX} fires; backfill it in parts",
                field="start",
            )
        instants.append(fire_ms)
        fire_ms = next_schedule_fire(unbounded, fire_ms, 0)
    items = []
    for n, instant in enumerate(instants):
        exec_id = f"{schedule.id}:backfill-{instant}"
        run = new_execution(schedule, exec_id, instant, now_ms, now_ms - instant)
        body = replace(run, context={"by": "backfill"}).to_message()
        items.append((exec_id, now_ms + n * config.backfill_pace_ms, retry_payload(body, 1)))
    store.schedule_executions(items)
    return [exec_id for exec_id, _, _ in items]

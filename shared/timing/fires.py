"""The public verbs: validate a trigger, its next fire, every fire after an instant, the next fire
of a schedule, the smallest gap between fires."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterator
from functools import lru_cache

from shared.errors import InvalidTrigger
from shared.model import (
    CalendarTrigger,
    CronTrigger,
    InstantsTrigger,
    IntervalTrigger,
    OnceTrigger,
    RRuleTrigger,
    Schedule,
    Trigger,
)
from shared.timing.calendar import (
    _calendar,
    _calendar_rules,
    _EveryItem,
)
from shared.timing.cron import (
    _bad,
    _cron,
)
from shared.timing.dst import iter_local, moment, next_local
from shared.timing.rrule import rrule_next, validate_rrule
from shared.timing.zones import (
    _LAST_YEAR,
    _MAX_MS,
    _MIN_MS,
    _VALIDATE_FROM,
    YEAR_MS,
    _arithmetic_next,
)


def validate_trigger(trigger: Trigger) -> None:
    """Parse and check everything about ``trigger``; ``InvalidTrigger`` names what is wrong.

    Also refuses cron and calendar rules that match no date at all (``0 0 31 2 *``), since such a
    schedule could never fire. Whether it still fires *from now on* is the caller's question.
    """
    if isinstance(trigger, OnceTrigger):
        _check_int(trigger.at_ms, "once: at_ms")
    elif isinstance(trigger, IntervalTrigger):
        _check_int(trigger.anchor_ms, "interval: anchor_ms")
        _check_int(trigger.every_ms, "interval: every_ms")
        if trigger.every_ms < 1:
            raise InvalidTrigger(f"interval: every_ms must be >= 1, got {trigger.every_ms}")
    elif isinstance(trigger, CronTrigger):
        plan, _, _ = _cron(trigger)
        if plan.days.next_day(_VALIDATE_FROM) is None:
            raise _bad(f"{trigger.expr!r} matches no date, so it never fires")
    elif isinstance(trigger, CalendarTrigger):
        _calendar(trigger)
        _calendar_rules(trigger)
    elif isinstance(trigger, InstantsTrigger):
        _check_instants(trigger.at_ms)
    elif isinstance(trigger, RRuleTrigger):
        validate_rrule(trigger)
    else:
        raise InvalidTrigger(f"trigger: unknown trigger {trigger!r}")


def _check_instants(at_ms: object) -> None:
    if not isinstance(at_ms, tuple) or not at_ms:
        raise InvalidTrigger(f"instants: at_ms must be a non-empty tuple, got {at_ms!r}")
    for value in at_ms:
        _check_int(value, "instants: at_ms")
    if any(a >= b for a, b in zip(at_ms, at_ms[1:], strict=False)):
        raise InvalidTrigger("instants: at_ms must be strictly increasing")


def _check_int(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTrigger(f"{name} must be an integer of UTC milliseconds, got {value!r}")
    if not _MIN_MS <= value <= _MAX_MS:  # an instant past these cannot even be written out
        raise InvalidTrigger(
            f"{name} must be between {_MIN_MS} and {_MAX_MS} (years 1 to {_LAST_YEAR}), got {value}"
        )


# Memoised because it is pure and the beat asks the same question many times: every schedule
# with the same cron fires at the same instant, so a tick of a thousand of them computes once.
@lru_cache(maxsize=8192)
def next_fire(trigger: Trigger, after_ms: int) -> int | None:
    """The first fire instant STRICTLY after ``after_ms``, or None if it never fires again."""
    if isinstance(trigger, CronTrigger):
        plan, tz, rule = _cron(trigger)
        return None if after_ms >= _MAX_MS else next_local(plan, tz, rule, moment(after_ms, tz))
    if isinstance(trigger, IntervalTrigger):
        if trigger.every_ms < 1:
            raise InvalidTrigger(f"interval: every_ms must be >= 1, got {trigger.every_ms}")
        return _arithmetic_next(trigger.anchor_ms, trigger.every_ms, after_ms)
    if isinstance(trigger, OnceTrigger):
        return trigger.at_ms if trigger.at_ms > after_ms else None
    if isinstance(trigger, CalendarTrigger):
        return _calendar_next(trigger, after_ms)
    if isinstance(trigger, InstantsTrigger):
        index = bisect_right(trigger.at_ms, after_ms)
        return trigger.at_ms[index] if index < len(trigger.at_ms) else None
    if isinstance(trigger, RRuleTrigger):
        return rrule_next(trigger, after_ms)
    raise InvalidTrigger(f"trigger: unknown trigger {trigger!r}")


def _calendar_next(trigger: CalendarTrigger, after_ms: int) -> int | None:
    """The union of the items: the earliest of each item's own next fire."""
    tz, plans = _calendar(trigger)
    after = None if after_ms >= _MAX_MS else moment(after_ms, tz)
    best: int | None = None
    for plan, rule in zip(plans, _calendar_rules(trigger), strict=True):
        if isinstance(plan, _EveryItem):
            fire_ms = plan.next_fire(after_ms)
        elif after is None:
            continue
        else:
            fire_ms = next_local(plan, tz, rule, after)
        if fire_ms is not None and (best is None or fire_ms < best):
            best = fire_ms
    return best


def iter_fires(trigger: Trigger, after_ms: int) -> Iterator[int]:
    """Successive fires strictly after ``after_ms``, strictly increasing, ending if it ends."""
    if isinstance(trigger, CronTrigger):
        plan, tz, rule = _cron(trigger)
        if after_ms < _MAX_MS:
            yield from iter_local(plan, tz, rule, after_ms)
        return
    fire_ms = next_fire(trigger, after_ms)
    while fire_ms is not None:
        yield fire_ms
        fire_ms = next_fire(trigger, fire_ms)


def next_schedule_fire(schedule: Schedule, after_ms: int, runs_done: int) -> int | None:
    """The schedule's next fire after ``after_ms``: its trigger, bounded by start, end, max_runs,
    moved by its jitter.

    ``start_ms`` and ``end_ms`` are inclusive and bound the trigger's own instants: a fire exactly
    at ``start_ms`` counts, hence the search from ``start_ms - 1``. With ``jitter_ms``, each
    instant fires ``jitter_offset_ms`` later; the search starts a jitter earlier, since an
    instant before ``after_ms`` may fire after it (jitter is kept below the smallest gap between
    instants, so fires stay in their instants' order).
    """
    if schedule.max_runs is not None and runs_done >= schedule.max_runs:
        return None
    jitter_ms = schedule.jitter_ms or 0
    search_ms = after_ms - jitter_ms
    if schedule.start_ms is not None:
        search_ms = max(search_ms, schedule.start_ms - 1)
    fire_ms = next_fire(schedule.trigger, search_ms)
    while (
        fire_ms is not None
        and fire_ms + jitter_offset_ms(schedule.id, fire_ms, jitter_ms) <= after_ms
    ):
        fire_ms = next_fire(schedule.trigger, fire_ms)
    if fire_ms is None or (schedule.end_ms is not None and fire_ms > schedule.end_ms):
        return None
    return fire_ms + jitter_offset_ms(schedule.id, fire_ms, jitter_ms)


def jitter_offset_ms(schedule_id: str, instant_ms: int, jitter_ms: int) -> int:
    """A stable pseudo-random offset in [0, jitter_ms) for one instant of one schedule: every
    beat, retry and redelivery computes the same one (0 without jitter)."""
    if jitter_ms <= 0:
        return 0
    digest = hashlib.sha256(f"{schedule_id}:{instant_ms}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % jitter_ms


def min_gap_ms(
    trigger: Trigger, after_ms: int, horizon_ms: int = YEAR_MS, max_fires: int = 5000
) -> int | None:
    """The smallest gap between consecutive fires in (after_ms, after_ms + horizon_ms].

    Measured on the real firing pattern (``0,5 * * * *`` has a 5-minute gap although it fires
    twice an hour), over at most ``max_fires`` fires. None if fewer than two fires.
    """
    end_ms = after_ms + horizon_ms
    smallest: int | None = None
    previous: int | None = None
    for count, fire_ms in enumerate(iter_fires(trigger, after_ms)):
        if fire_ms > end_ms or count >= max_fires:
            break
        if previous is not None and (smallest is None or fire_ms - previous < smallest):
            smallest = fire_ms - previous
        previous = fire_ms
    return smallest

"""What the beat does with a fire it claims late (after downtime): a schedule's misfire policy,
as one pure function of (schedule, due instant, now), so the beat holds no rule of its own.

A fire is *missed* when it is claimed more than the grace (``SCHEDULER_MISFIRE_GRACE_MS``) after
its instant. Then, by the schedule's policy:

- ``coalesce`` (default): it runs once, late; the schedule resumes from now (the other missed
  fires collapse into this one);
- ``skip``: it is recorded as skipped; the schedule resumes from now;
- a catch-up window (``Schedule.catchup_ms``, the native API's ``catchup_window_s``): a fire at
  most that late runs, late, with its own instant, and the schedule resumes from that instant,
  so each missed fire of the window runs in turn; an older one is recorded as missed, and the
  first fire inside the window runs in its place.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.model import Schedule
from shared.timing import next_schedule_fire


@dataclass(frozen=True)
class Decision:
    """``run_ms``: the instant whose execution to publish now (None: nothing); ``after_ms``: the
    schedule's next fire is its first after this; ``skipped``: the claimed fire is recorded as
    skipped, for ``reason``; ``policy``: the policy applied to a missed fire (for metrics)."""

    run_ms: int | None
    after_ms: int
    skipped: bool = False
    policy: str | None = None
    reason: str = ""


def decide(schedule: Schedule, due_ms: int, now_ms: int, grace_ms: int, runs: int) -> Decision:
    """What to do with the fire due at ``due_ms``, claimed at ``now_ms`` (``runs`` fires done)."""
    late_ms = max(0, now_ms - due_ms)
    if late_ms <= grace_ms:
        return Decision(run_ms=due_ms, after_ms=due_ms)
    if schedule.catchup_ms is not None:
        return _catch_up(schedule, due_ms, now_ms, runs, schedule.catchup_ms)
    if schedule.misfire == "skip":
        return Decision(None, now_ms, True, "skip", "skipped by the schedule's policy")
    return Decision(run_ms=due_ms, after_ms=now_ms, policy=schedule.misfire)


def _catch_up(schedule: Schedule, due_ms: int, now_ms: int, runs: int, window_ms: int) -> Decision:
    """A fire within the window runs; an older one is recorded as missed and, in the same step,
    the window's first fire runs instead (so the backlog drains at one fire a tick without
    ageing out of the window while it waits)."""
    if now_ms - due_ms <= window_ms:
        return Decision(run_ms=due_ms, after_ms=due_ms, policy="catchup")
    first_ms = next_schedule_fire(schedule, max(due_ms, now_ms - window_ms - 1), runs)
    reason = "older than the schedule's catch-up window"
    if first_ms is None or first_ms > now_ms:  # no fire inside the window: resume from there
        after_ms = now_ms if first_ms is None else first_ms - 1
        return Decision(None, after_ms, True, "catchup", reason)
    return Decision(first_ms, first_ms, True, "catchup", reason)

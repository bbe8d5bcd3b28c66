"""The one package that owns time: the clock, zones, ISO 8601, and when a trigger fires next.

This package does no I/O. Its modules, bottom up: ``clock`` (``now_ms``, the only reader of the
wall clock in the whole system), ``zones`` (IANA zones, instants, ISO 8601, THE DST RULE),
``plan`` (the wall-clock plan of local dates and times), ``dst`` (the DST policies and the search
for the next fire), ``cron`` (Unix and Quartz expressions), ``calendar`` (the task scheduler's
repeat items) and ``fires`` (the public verbs). Import from
``shared.timing``, not from its modules.

Every instant that goes in or comes out is an ``int`` of UTC milliseconds since the epoch. Every
other function is pure: none of them reads the clock, so the beat passes "now" in and the tests
pass literal datetimes in.

How a trigger is evaluated
--------------------------
- ``OnceTrigger`` fires at ``at_ms``; ``IntervalTrigger`` at ``anchor_ms + k * every_ms`` (k >= 0);
  ``InstantsTrigger`` at each of its ``at_ms``. All plain UTC arithmetic: DST never moves them.
- ``CronTrigger`` and ``CalendarTrigger`` are wall-clock rules in an IANA zone. They are turned
  into a ``_Plan``: a set of *local dates* (months, years, day-of-month / day-of-week rules, start
  and end dates) times a set of *local times of day* (hours x minutes x seconds). The date side is
  our own month table, because croniter lacks ``LW``, ``L-n``, ``dL``, the task scheduler's
  week-of-month AND-semantics and bounded date ranges, and because finding "the next matching day"
  from a month table is cheaper than croniter's own day search. The time-of-day side is a bisection
  of the sorted hours, minutes and seconds. Each naive wall-clock candidate is then turned into
  instants by a DST policy (``dst``); results are strictly increasing and never repeat.

DST policies (``CronTrigger.dst``; module ``dst``)
--------------------------------------------------
- ``cron`` (default) does what cronie, the reference Unix cron, does. A FIXED-TIME cron (neither
  its minute nor its hour field starts with ``*``): a local time in a spring-forward gap fires once
  at the first instant after the gap (02:30 on 2026-03-08 in New York fires at 03:00 EDT; several
  in one gap fire once), and a repeated local time fires once, the first time. A WILDCARD cron
  (``*/30 * * * *``, ``5 * * * *``, ``@hourly``) runs in real time: nothing for local times that do
  not exist, both passes of a repeated hour. Jumps of 3 hours or more (Samoa skipping 30 December
  2011) fire nothing for the skipped times, as cronie's "clock jumped" case; see ``dst`` for the
  exact thresholds.
- ``skip``: a local time that does not exist does not fire; a repeated one fires the first time.

THE DST RULE (``local_to_utc_ms``: one-off wall-clock times, calendar items without ``dst``)
-------------------------------------------------------------------------------------------
- A local time that does not exist (spring-forward gap) maps to the first instant after the gap.
- A local time that occurs twice (fall-back) maps to its FIRST occurrence (``fold=0``).

Cron dialects (the field count tells which)
-------------------------------------------
- 5 fields, Unix: ``min hour dom month dow``; dow 0-7 (0 and 7 = Sunday), names ``JAN``/``SUN``;
  ``@hourly``-style aliases. As in Vixie cron, a day matches if EITHER dom or dow matches when
  neither field starts with ``*`` (or ``?``), and if BOTH match otherwise (``*/2`` counts as
  unrestricted for this rule: ``0 0 */2 * MON`` is odd days that are Mondays).
- 6 or 7 fields, Quartz: ``sec min hour dom month dow [year]``; dow 1-7 (1 = Sunday); exactly one of
  dom/dow must be ``?``; year 1970-2099.
- Both dialects accept lists, ranges (wrap-around ``FRI-MON`` allowed, each day once, so
  ``FRI-MON/2`` is Friday and Sunday and ``6-0/2`` Saturday), steps (``*/5``, ``10/15``,
  ``1-30/2``), and the Quartz day tokens: dom ``L``, ``L-n``, ``nW``, ``LW``; dow ``d#n``, ``dL``,
  and ``L`` alone (= Saturday). ``nW`` never leaves the month; if day n does not exist in a month
  (``31W`` in April) that month has no ``nW`` fire. ``L-n`` before the 1st likewise does not fire.

Calendar items (the task scheduler's ``repeat_items``)
------------------------------------------------------
A ``CalendarTrigger`` fires at the union of its items, with THE DST RULE above unless its ``dst`` is
set (then as a cron's, an item without hour or minute being a wildcard one). A calendar item fires
at every local minute (second 0) matching ALL its non-None fields (day AND weekday AND week; week w
= days 7w-6..7w), between its ``start`` and ``end`` dates inclusive. An item with ``interval_min``
instead fires every ``interval_min`` elapsed minutes from local midnight of ``start`` (or
1970-01-01), i.e. UTC arithmetic from that anchor like ``IntervalTrigger``, until the end of its
``end`` date.
"""

from shared.timing.clock import now_ms
from shared.timing.fires import (
    iter_fires,
    min_gap_ms,
    next_fire,
    next_schedule_fire,
    validate_trigger,
)
from shared.timing.zones import (
    YEAR_MS,
    format_iso_utc,
    local_to_utc_ms,
    parse_iso8601,
    parse_wall_clock,
    wall_clock_to_utc_ms,
    years_later_ms,
    zone,
)

__all__ = [
    "YEAR_MS",
    "format_iso_utc",
    "iter_fires",
    "local_to_utc_ms",
    "min_gap_ms",
    "next_fire",
    "next_schedule_fire",
    "now_ms",
    "parse_iso8601",
    "parse_wall_clock",
    "validate_trigger",
    "wall_clock_to_utc_ms",
    "years_later_ms",
    "zone",
]

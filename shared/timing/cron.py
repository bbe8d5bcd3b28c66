"""Cron expressions, Unix 5-field and Quartz 6/7-field (with seconds, ``?``, ``L``, ``W``, ``#``),
parsed into a wall-clock plan."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.errors import InvalidTrigger
from shared.model import (
    CronTrigger,
)
from shared.timing.dst import _DstRule, rule_for
from shared.timing.plan import (
    _Days,
    _DomRule,
    _DowRule,
    _make_plan,
    _Plan,
)
from shared.timing.zones import (
    zone,
)


@dataclass(frozen=True)
class _Field:
    label: str
    lo: int
    hi: int
    names: dict[str, int] | None = None
    cycle_hi: int | None = None  # a range wraps after this (Unix day-of-week: 7 is Sunday again)


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTH_NAMES = {name: i + 1 for i, name in enumerate(_MONTHS)}

_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_UNIX_DOW = _Field("day-of-week", 0, 7, {name: i for i, name in enumerate(_DAY_NAMES)}, 6)
_QUARTZ_DOW = _Field("day-of-week", 1, 7, {name: i + 1 for i, name in enumerate(_DAY_NAMES)})
_YEAR = _Field("year", 1970, 2099)

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Numbers have at most 9 digits: int() of a long run is slow, and refused past 4300 digits.
_TOKEN = re.compile(r"(\*|[A-Z0-9]+)(?:-([A-Z0-9]+))?(?:/([0-9]{1,9}))?")
_FROM_LAST = re.compile(r"L-([0-9]{1,9})")
_NEAREST = re.compile(r"([0-9]{1,9})W")
_NTH = re.compile(r"([A-Z0-9]+)#([0-9]{1,9})")
_LAST_DOW = re.compile(r"([A-Z0-9]+)L")
_UNRESTRICTED = ("*", "?")


def _bad(message: str) -> InvalidTrigger:
    return InvalidTrigger(f"cron: {message}")


def _value(text: str, spec: _Field) -> int:
    """One number or name of a field, range-checked."""
    if text.isdigit() and len(text) <= 9:
        value = int(text)
    elif spec.names and text in spec.names:
        value = spec.names[text]
    else:
        raise _bad(f"invalid {spec.label} value {text!r}")
    if not spec.lo <= value <= spec.hi:
        raise _bad(f"{spec.label} value {value} out of range {spec.lo}-{spec.hi}")
    return value


def _token(token: str, spec: _Field) -> list[int]:
    """``*``, ``n``, ``a-b`` (wrapping if a > b), each with an optional ``/step``.

    ``a/s`` means ``a-max/s``, as in Quartz and croniter.
    """
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise _bad(f"invalid {spec.label} value {token!r}")
    start, end, step_text = match.groups()
    if start == "*":
        if end is not None:
            raise _bad(f"invalid {spec.label} value {token!r}")
        lo, hi = spec.lo, spec.hi
    else:
        lo = _value(start, spec)
        hi = _value(end, spec) if end else (spec.hi if step_text else lo)
    step = int(step_text) if step_text else 1
    span = spec.hi - spec.lo + 1
    if not 1 <= step <= span:
        raise _bad(f"{spec.label} step {step} out of range 1-{span}")
    if lo <= hi:
        return list(range(lo, hi + 1, step))
    top = spec.hi if spec.cycle_hi is None else spec.cycle_hi
    if lo > top:  # 7-2: Sunday written 7 starts the week
        return list(range(spec.lo + lo - top - 1, hi + 1, step))
    wrapped = [*range(lo, top + 1), *range(spec.lo, hi + 1)]  # FRI-MON, 22-2: each value once
    return wrapped[::step]


def _values(text: str, spec: _Field) -> set[int]:
    """A comma-separated list of tokens -> the set of values."""
    if "?" in text:
        raise _bad(f"'?' is only allowed alone in day-of-month or day-of-week, not in {spec.label}")
    out: set[int] = set()
    for token in text.split(","):
        out.update(_token(token, spec))
    return out


def _dom_rule(text: str) -> _DomRule | None:
    if text in _UNRESTRICTED:
        return None
    days: set[int] = set()
    from_last: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    for token in text.split(","):
        if token == "L":
            from_last.add(0)
        elif token == "LW":
            last_weekday = True
        elif m := _FROM_LAST.fullmatch(token):
            offset = int(m.group(1))
            if offset > 30:
                raise _bad(f"day-of-month offset L-{offset} out of range L-0 to L-30")
            from_last.add(offset)
        elif m := _NEAREST.fullmatch(token):
            nearest.add(_value(m.group(1), _DOM))
        else:
            days.update(_values(token, _DOM))
    return _DomRule(frozenset(days), frozenset(from_last), frozenset(nearest), last_weekday)


def _dow_rule(text: str, quartz: bool) -> _DowRule | None:
    if text in _UNRESTRICTED:
        return None
    spec = _QUARTZ_DOW if quartz else _UNIX_DOW

    def weekday(value: int) -> int:  # dialect number -> 0 = Sunday .. 6 = Saturday
        return value - 1 if quartz else value % 7

    days: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for token in text.split(","):
        if token == "L":
            days.add(6)  # Quartz: ``L`` alone in day-of-week is Saturday
        elif m := _NTH.fullmatch(token):
            n = int(m.group(2))
            if not 1 <= n <= 5:
                raise _bad(f"day-of-week occurrence #{n} out of range 1-5")
            nth.add((weekday(_value(m.group(1), spec)), n))
        elif m := _LAST_DOW.fullmatch(token):
            last.add(weekday(_value(m.group(1), spec)))
        else:
            days.update(weekday(v) for v in _values(token, spec))
    return _DowRule(frozenset(days), frozenset(nth), frozenset(last))


@lru_cache(maxsize=4096)
def _cron_plan(expr: str) -> tuple[_Plan, bool]:
    """Parse and validate a cron expression once: its plan (zone-free: it yields wall times), and
    whether it is a wildcard cron (minute or hour field starting with ``*``, as cronie tells
    wildcard jobs, which run in real time across DST, from fixed-time ones)."""
    fields = _ALIASES.get(expr.strip().lower(), expr).upper().split()
    if len(fields) == 5:
        quartz = False
        second, (minute, hour, dom, month, dow), year = "0", fields, "*"
    elif len(fields) in (6, 7):
        quartz = True
        second, minute, hour, dom, month, dow = fields[:6]
        year = fields[6] if len(fields) == 7 else "*"
    else:
        raise _bad(
            f"expected 5 fields (Unix) or 6-7 fields (Quartz), got {len(fields)} in {expr!r}"
        )
    for text, label in ((dom, "day-of-month"), (dow, "day-of-week")):
        if "?" in text and text != "?":
            raise _bad(f"'?' must stand alone in {label}, got {text!r}")
    if quartz:
        _check_quartz_days(dom, dow)
    days = _Days(
        months=frozenset(_values(month, _MONTH)),
        years=None if year == "*" else tuple(sorted(_values(year, _YEAR))),
        dom=_dom_rule(dom),
        dow=_dow_rule(dow, quartz),
        # Vixie cron: a day field starting with ``*`` (``*/2`` too) leaves the other one alone.
        either=not quartz
        and not dom.startswith(_UNRESTRICTED)
        and not dow.startswith(_UNRESTRICTED),
    )
    plan = _make_plan(
        days, _values(hour, _HOUR), _values(minute, _MINUTE), _values(second, _SECOND)
    )
    return plan, minute.startswith("*") or hour.startswith("*")


def _check_quartz_days(dom: str, dow: str) -> None:
    if dom == "?" and dow == "?":
        raise _bad("'?' may stand in only one of day-of-month and day-of-week")
    if dom != "?" and dow != "?":
        raise _bad(
            f"Quartz expressions need '?' in day-of-month or day-of-week, got {dom!r} and {dow!r}"
        )


def _cron(trigger: CronTrigger) -> tuple[_Plan, ZoneInfo, _DstRule]:
    """The trigger's plan, zone and DST rule; ``InvalidTrigger`` naming what is wrong."""
    if not isinstance(trigger.expr, str):
        raise _bad(f"expression must be a string, got {trigger.expr!r}")
    plan, wildcard = _cron_plan(trigger.expr)
    return plan, zone(trigger.timezone), rule_for(trigger.dst, wildcard)

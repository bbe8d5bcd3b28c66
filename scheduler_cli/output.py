"""How the operator commands print: aligned tables and local times for a person, ``--json`` for
a program. Every command builds plain rows (dicts of JSON values, instants as UTC ms) and hands
them here, so both modes show the same facts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from shared.timing import format_iso_utc

NOTHING = "-"  # what an empty cell shows (a table of blanks is hard to read)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(rows: Sequence[dict[str, Any]], columns: dict[str, str], empty: str) -> None:
    """``rows`` as an aligned table of ``columns`` (row key -> heading), or ``empty`` when there
    are none (a line that says what to do rather than a bare header)."""
    if not rows:
        print(empty)
        return
    cells = [[cell(row.get(key)) for key in columns] for row in rows]
    print(tabulate(cells, headers=list(columns.values()), tablefmt="simple", disable_numparse=True))


def print_fields(fields: dict[str, Any]) -> None:
    """One ``name  value`` line per field, names aligned (a record, not a table)."""
    width = max(len(name) for name in fields)
    for name, value in fields.items():
        print(f"{name:<{width}}  {cell(value)}")


def cell(value: Any) -> str:
    if value is None or value == "":
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def local_time(ms: int | None) -> str | None:
    """An instant in the local time zone of this machine (``TZ``), with the zone's name: what
    an operator reads at a terminal. None stays None (shown as ``-``)."""
    if ms is None:
        return None
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ms / 1000))
    except (OverflowError, OSError, ValueError):  # past what this platform's time_t holds
        return f"{ms} ms after 1970"


def iso_utc(ms: int | None) -> str | None:
    """An instant as ISO 8601 UTC, the form ``--json`` prints."""
    return None if ms is None else format_iso_utc(ms)


def duration(ms: int | None) -> str | None:
    """A span for a person: ``350 ms``, ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if ms is None:
        return None
    if abs(ms) < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def shorten(text: str | None, width: int = 60) -> str | None:
    """One line of at most ``width`` characters (an error message, a URL) for a table cell."""
    if not text:
        return text
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."

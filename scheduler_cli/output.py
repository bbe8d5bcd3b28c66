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

from shared.describe import duration as duration  # re-exported: the CLI's commands use it
from shared.describe import shorten as shorten
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

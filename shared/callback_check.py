"""The create-time check of a callback URL (``shared.netguard``), remembered.

Every create and replace checks its URL, and most jobs of a tenant share a few callback URLs.
The check is a pure function of (URL, allowlist) for a URL whose host is an IP address: its
verdict is kept (least recently used, up to ``ENTRIES``). A host name's verdict depends on DNS:
checking it is a blocking lookup in the request's thread (a few ms to seconds), so its verdict is
kept for at most ``NAME_TTL_S``. Staleness costs nothing in safety: this check only gives early
feedback, and every delivery checks again, pinned to the addresses it connects to.

Only verdicts that let the URL through are kept; a refused URL is checked again each time.
"""

from __future__ import annotations

import functools
import time

from shared.netguard import ParsedUrl, check_url, read_url

ENTRIES = 1024
NAME_TTL_S = 60.0


def check_callback(url: object, allowlist: tuple[str, ...]) -> None:
    """Raise ``UnsafeTarget`` if ``url`` may not be called (a host that does not resolve yet is
    accepted: DNS may answer later)."""
    reading = _reading(url) if isinstance(url, str) else read_url(url)
    # IP hosts: one period for ever; names: the current period of NAME_TTL_S.
    period = 0 if reading.ip is not None else 1 + int(time.monotonic() // NAME_TTL_S)
    _passed(url, allowlist, period)


@functools.lru_cache(maxsize=ENTRIES)
def _reading(url: str) -> ParsedUrl:
    return read_url(url)


@functools.lru_cache(maxsize=ENTRIES)
def _passed(url: str, allowlist: tuple[str, ...], period: int) -> bool:
    check_url(url, allowlist, unresolvable_ok=True)  # raises (and nothing is kept) if refused
    return True


def forget() -> None:
    """Drop every remembered verdict (tests that script DNS answers)."""
    _passed.cache_clear()
    _reading.cache_clear()

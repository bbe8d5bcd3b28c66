"""Request rate limits and failed-authentication throttling, shared by every API process.

The counters are fixed windows in Redis, under the store's ``rate_limits`` prefix, so every
gunicorn worker and API host counts together; the ``limits`` package (Flask-Limiter's) parses the
settings and names the counters, and one script (``rate_limits.lua``) checks and counts all of a
request's counters in one round trip. Flask-Limiter's request hook is not used: it picks its key
before the view runs, while the account is known only once the dialect has authenticated the caller
(after its own checks; beacon's ``userkey`` may sit in a form body). So ``scheduler_api.auth``
calls this module when it authenticates, and a ``before_request`` hook counts the routes that
authenticate nobody.

Policies (settings in ``shared.config``; an empty setting turns one off):

- ``account``: requests of one authenticated account;
- ``address``: unauthenticated requests of one client address (an IPv6 client counts per /64);
- ``auth-address`` / ``auth-appkey``: failed authentications (credentials given and wrong) from
  one address / naming one appkey. Once used up, that address or appkey gets 429 whatever
  credentials it sends, the right ones included, until the window passes.

Counted responses carry the IETF fields (draft-ietf-httpapi-ratelimit-headers) ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``; a refusal carries
``Retry-After`` too. Each dialect renders the 429 in its own error shape (an HTTPException).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from shared.config import Config
from shared.store import Counter, Group, Store

ACCOUNT, ADDRESS, FAILED_BY_ADDRESS, FAILED_BY_APPKEY = (
    "account",
    "address",
    "auth-address",
    "auth-appkey",
)
WHAT = {
    ACCOUNT: "requests of this account",
    ADDRESS: "unauthenticated requests from this address",
    FAILED_BY_ADDRESS: "failed authentications from this address",
    FAILED_BY_APPKEY: "failed authentications for this appkey",
}
UNCOUNTED_ENDPOINTS = frozenset({"healthz", "readyz", "prometheus_metrics", "static"})
MAX_APPKEY_CHARS = 64  # a claimed appkey is user input: longer ones share a counter
_EXTENSION = "scheduler.ratelimit"
_AUTHENTICATING = "scheduler.ratelimit.authenticating"


class RateLimited(TooManyRequests):
    """429 naming the limit; the response gets ``Retry-After: retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(description=message)
        g.retry_after_s = retry_after_s


class Busy(ServiceUnavailable):
    """503: the whole process is at a cap; the response gets ``Retry-After: retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(description=message)
        g.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Window:
    """One limit's state after this request: what the RateLimit fields report."""

    item: RateLimitItem
    remaining: int
    reset_s: int
    policy: tuple[RateLimitItem, ...]


Who = tuple[str, str]  # (policy, caller): whose counters, under which policy


@dataclass(frozen=True)
class Outcome:
    """What a request adds to: ``counts`` (events) and ``charge`` (the request itself)."""

    counts: Sequence[Who] = ()
    charge: Who | None = None


@dataclass(frozen=True)
class _Limit:
    item: RateLimitItem
    policy: str
    counter: Counter


class Limiter:
    def __init__(self, store: Store, policies: dict[str, list[RateLimitItem]]) -> None:
        self.store = store
        self.policies = policies

    @classmethod
    def from_config(cls, config: Config, store: Store) -> Limiter:
        settings = {
            ACCOUNT: config.rate_limit_per_account,
            ADDRESS: config.rate_limit_per_address,
            FAILED_BY_ADDRESS: config.auth_failures_per_address,
            FAILED_BY_APPKEY: config.auth_failures_per_appkey,
        }
        policies = {name: parse_many(value) if value else [] for name, value in settings.items()}
        return cls(store, policies)

    def settle(
        self,
        checks: Sequence[Who],
        passed: Outcome,
        failed: Outcome = Outcome(),
        credentials: tuple[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """One request's counting, in one Redis round trip: raise RateLimited if any window of
        ``checks`` is used up (counting nothing). Else count ``passed`` (or ``failed``, when
        ``credentials``, an appkey and the SHA-256 of a master secret, are given and wrong):
        one event (a failed authentication) to its ``counts`` and one request to its
        ``charge``, and raise RateLimited once a window of that is over (the request is
        counted all the same). Returns the account of right ``credentials``."""
        checked = self._limits(checks)
        on_pass, on_fail = self._groups(passed), self._groups(failed)
        if credentials is None and not (checked or any(on_pass)):
            return None  # no limits set, no credentials: nothing to ask Redis
        tally = self.store.rate_limit_tally(
            [c.counter for c in checked],
            Group(*(tuple(c.counter for c in limits) for limits in on_pass)),
            Group(*(tuple(c.counter for c in limits) for limits in on_fail)),
            credentials,
        )
        if tally.refused is not None:
            refused = checked[tally.refused]
            self._refuse(self._window(refused, 0, tally.refused_reset_s), refused.policy)
        _, charged = on_pass if credentials is None or tally.account else on_fail
        if charged:
            self._report_charged(charged, tally.charged)
        return tally.account

    def _report_charged(self, charged: list[_Limit], counts: tuple[tuple[int, int], ...]) -> None:
        limit, (count, reset_s) = min(
            zip(charged, counts, strict=True),
            key=lambda pair: pair[0].item.amount - pair[1][0],
        )
        window = self._window(limit, max(0, limit.item.amount - count), reset_s)
        if count > limit.item.amount:
            self._refuse(window, limit.policy)
        _report(window)

    def _groups(self, outcome: Outcome) -> tuple[list[_Limit], list[_Limit]]:
        return self._limits(outcome.counts), self._limits(
            [outcome.charge] if outcome.charge else []
        )

    def _limits(self, whos: Sequence[Who]) -> list[_Limit]:
        return [
            _Limit(item, policy, Counter(item.key_for(policy, who), item.amount, item.get_expiry()))
            for policy, who in whos
            for item in self.policies[policy]
        ]

    def _window(self, limit: _Limit, remaining: int, reset_s: int) -> Window:
        reset_s = min(reset_s, limit.item.get_expiry())
        return Window(limit.item, remaining, reset_s, tuple(self.policies[limit.policy]))

    def _refuse(self, window: Window, policy: str) -> None:
        _report(window, breached=True)
        raise RateLimited(
            f"rate limit exceeded: {WHAT[policy]} are limited to {window.item}; "
            f"retry in {window.reset_s} s",
            window.reset_s,
        )


# --- what auth calls ---------------------------------------------------------------------------


def basic_authentication(appkey: str, secret_sha256: str) -> dict[str, Any] | None:
    """The account whose appkey and master secret (its SHA-256 hex) these are, else None, with
    the request counted as ``authentication_settled`` counts it, in the same round trip."""
    g.ratelimit_counted = True
    address = client_address()
    checks = _failure_checks(appkey, address)
    return current().settle(
        checks,
        Outcome(charge=(ACCOUNT, appkey)),
        Outcome(counts=checks, charge=(ADDRESS, address)),
        credentials=(appkey, secret_sha256),
    )


def authentication_settled(claimed_appkey: str, account_appkey: str | None) -> None:
    """After the credentials were checked (``account_appkey`` None: wrong ones), in one round
    trip: refuse (429) an address or appkey that failed authentication too often, whatever it
    sent, counting nothing; else count the request to the account, or the failure to the
    address and the claimed appkey and the request as an unauthenticated one."""
    g.ratelimit_counted = True
    address = client_address()
    checks = _failure_checks(claimed_appkey, address)
    if account_appkey is not None:
        current().settle(checks, Outcome(charge=(ACCOUNT, account_appkey)))
    else:
        current().settle(checks, Outcome(counts=checks, charge=(ADDRESS, address)))


def _failure_checks(claimed_appkey: str, address: str) -> list[Who]:
    checks: list[Who] = [(FAILED_BY_ADDRESS, address)]
    if claimed_appkey:
        checks.append((FAILED_BY_APPKEY, claimed_appkey[:MAX_APPKEY_CHARS]))
    return checks


def unauthenticated() -> None:
    """A request that names no account: counted per client address."""
    g.ratelimit_counted = True
    current().settle([], Outcome(charge=(ADDRESS, client_address())))


# --- wiring ------------------------------------------------------------------------------------


def counts_per_account(blueprint: Blueprint) -> None:
    """The blueprint's routes authenticate through ``scheduler_api.auth``, which counts them
    (per account, or per address when authentication fails)."""

    def register(state: object) -> None:
        app: Flask = state.app  # type: ignore[attr-defined]
        app.extensions.setdefault(_AUTHENTICATING, set()).add(blueprint.name)

    blueprint.record_once(register)


def install(app: Flask, limiter: Limiter) -> None:
    app.extensions[_EXTENSION] = limiter

    @app.before_request
    def count_unauthenticated_routes() -> None:
        # Docs, dashboard pages, unknown paths. The dialects' own requests are counted when they
        # authenticate; the few they refuse before that (malformed, unknown target) are answered
        # without touching Redis, which is cheaper than counting them.
        if request.endpoint in UNCOUNTED_ENDPOINTS:
            return
        if request.blueprint in app.extensions.get(_AUTHENTICATING, ()):
            return
        unauthenticated()

    app.after_request(add_headers)


def add_headers(response: Response) -> Response:
    window: Window | None = g.get("ratelimit_window")
    if window is not None:
        response.headers["RateLimit-Limit"] = str(window.item.amount)
        response.headers["RateLimit-Remaining"] = str(window.remaining)
        response.headers["RateLimit-Reset"] = str(window.reset_s)
        response.headers["RateLimit-Policy"] = ", ".join(
            f"{item.amount};w={item.get_expiry()}" for item in window.policy
        )
    retry_after_s = g.get("retry_after_s")
    if retry_after_s is not None and response.status_code in (429, 503):
        response.headers["Retry-After"] = str(retry_after_s)
    return response


def current() -> Limiter:
    return current_app.extensions[_EXTENSION]


def client_address() -> str:
    """The peer address; an IPv6 peer counts as its /64 (one host usually holds a whole /64)."""
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _report(window: Window, breached: bool = False) -> None:
    """Remember the window the response reports: a refusal's, else the latest counted."""
    if breached or not g.get("ratelimit_breached"):
        g.ratelimit_window = window
        g.ratelimit_breached = breached

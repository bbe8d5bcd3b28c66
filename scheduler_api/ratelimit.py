"""Request rate limits and failed-authentication throttling, shared by every API process.

The counters are fixed windows kept in Redis by the ``limits`` package (the storage layer of
Flask-Limiter), under the store's ``rate_limits`` prefix, so every gunicorn worker and API host
counts together. Flask-Limiter's request hook is not used: it picks its key before the view runs,
while the account is known only once the dialect has authenticated the caller (after its own checks;
beacon's ``userkey`` may sit in a form body). So ``scheduler_api.auth`` calls this module when it
authenticates, and a ``before_request`` hook counts the routes that authenticate nobody.

Policies (settings in ``shared.config``; an empty setting turns one off):

- ``account``: requests of one authenticated account;
- ``address``: unauthenticated requests of one client address (an IPv6 client counts per /64);
- ``auth-address`` / ``auth-appkey``: failed authentications (credentials given and wrong) from
  one address / naming one appkey. Once used up, that address or appkey gets 429 before its
  credentials are even checked, the right ones included, until the window passes.

Counted responses carry the IETF fields (draft-ietf-httpapi-ratelimit-headers) ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``; a refusal carries
``Retry-After`` too. Each dialect renders the 429 in its own error shape (an HTTPException).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from shared.config import Config
from shared.store import Store

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


class Limiter:
    def __init__(self, storage: RedisStorage, policies: dict[str, list[RateLimitItem]]) -> None:
        self.storage = storage
        self.policies = policies

    @classmethod
    def from_config(cls, config: Config, store: Store) -> Limiter:
        storage = store.rate_limit_storage()
        settings = {
            ACCOUNT: config.rate_limit_per_account,
            ADDRESS: config.rate_limit_per_address,
            FAILED_BY_ADDRESS: config.auth_failures_per_address,
            FAILED_BY_APPKEY: config.auth_failures_per_appkey,
        }
        policies = {name: parse_many(value) if value else [] for name, value in settings.items()}
        return cls(storage, policies)

    def charge(self, policy: str, who: str) -> None:
        """Count one request of ``who``; raise RateLimited once any window of ``policy`` is over."""
        items = self.policies[policy]
        if not items:
            return
        counts = [(item, self._incr(item, policy, who)) for item in items]
        item, count = min(counts, key=lambda pair: pair[0].amount - pair[1])
        window = self._window(item, max(0, item.amount - count), policy, who)
        if count > item.amount:
            self._refuse(window, policy)
        _report(window)

    def count(self, policy: str, who: str) -> None:
        """Count one event (a failed authentication) without refusing this request."""
        for item in self.policies[policy]:
            self._incr(item, policy, who)

    def check(self, policy: str, who: str) -> None:
        """Raise RateLimited if ``policy`` is used up for ``who``; count nothing."""
        for item in self.policies[policy]:
            if self.storage.get(item.key_for(policy, who)) >= item.amount:
                self._refuse(self._window(item, 0, policy, who), policy)

    def _window(self, item: RateLimitItem, remaining: int, policy: str, who: str) -> Window:
        # get_expiry is the counter's TTL added to the wall clock: take the clock away again.
        reset_at = self.storage.get_expiry(item.key_for(policy, who))
        reset_s = max(1, round(reset_at - time.time()))
        policy_items = tuple(self.policies[policy])
        return Window(item, remaining, min(reset_s, item.get_expiry()), policy_items)

    def _incr(self, item: RateLimitItem, policy: str, who: str) -> int:
        # What FixedWindowRateLimiter.hit does, keeping the count: the RateLimit fields need it.
        return self.storage.incr(item.key_for(policy, who), item.get_expiry())

    def _refuse(self, window: Window, policy: str) -> None:
        _report(window, breached=True)
        raise RateLimited(
            f"rate limit exceeded: {WHAT[policy]} are limited to {window.item}; "
            f"retry in {window.reset_s} s",
            window.reset_s,
        )


# --- what auth calls ---------------------------------------------------------------------------


def before_authentication(claimed_appkey: str) -> None:
    """Refuse (429) an address or appkey that failed authentication too often, whatever it sends."""
    limiter = current()
    limiter.check(FAILED_BY_ADDRESS, client_address())
    if claimed_appkey:
        limiter.check(FAILED_BY_APPKEY, claimed_appkey[:MAX_APPKEY_CHARS])


def authentication_failed(claimed_appkey: str) -> None:
    """Wrong credentials: count the failure, and the request as an unauthenticated one."""
    limiter = current()
    limiter.count(FAILED_BY_ADDRESS, client_address())
    if claimed_appkey:
        limiter.count(FAILED_BY_APPKEY, claimed_appkey[:MAX_APPKEY_CHARS])
    unauthenticated()


def unauthenticated() -> None:
    """A request that names no account: counted per client address."""
    g.ratelimit_counted = True
    current().charge(ADDRESS, client_address())


def authenticated(appkey: str) -> None:
    g.ratelimit_counted = True
    current().charge(ACCOUNT, appkey)


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

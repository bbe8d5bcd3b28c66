"""One outbound HTTP call with the safety rules every pool needs.

Timeouts on connect and read, redirects never followed (a redirect could point anywhere, including
inside our network), the response body read only up to a cap, the target checked against the
address rules at connect time, and the answer classified for the retry policy.

One reading, pinned (against parser confusion and DNS rebinding): ``shared.netguard`` reads the
URL once and resolves its host once, and the request goes to exactly the addresses that passed
the check. The URL handed to requests is rebuilt from that reading with the pinned IP as its
host (never the user's text with a host swapped in), and is checked once more after requests has
prepared it; the name travels in the ``Host`` header, and for https ``PinnedAdapter`` makes it
the TLS name too (SNI and the certificate check), so verification is against the host the user
gave, never against the IP.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
import urllib3.util
from requests.adapters import HTTPAdapter

from shared.config import Config
from shared.netguard import (
    IPAddress,
    ParsedUrl,
    Target,
    Unresolvable,
    UnsafeTarget,
    check_target,
)
from shared.policy import DEFAULT, Policy
from shared.retry import parse_retry_after
from shared.timing import now_ms
from workers import deadline
from workers.destinations import Destinations, Refused
from workers.runner import Outcome

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class CallLimits:
    """How long one call may take: to connect, between bytes read, and in all."""

    connect_s: float
    read_s: float
    total_s: float


def call_limits(config: Config, policy: Policy = DEFAULT) -> CallLimits:
    """The server's timeouts, bounded by a schedule's ``retry.timeout_s`` (``shared.policy``)."""
    connect_s, read_s = policy.http_timeouts_s(config)
    return CallLimits(connect_s, read_s, policy.attempt_limit_s(config))


def post(
    config: Config,
    url: str,
    body: bytes,
    headers: dict[str, str],
    session: requests.Session,
    destinations: Destinations | None = None,
    limits: CallLimits | None = None,
) -> Outcome:
    """POST ``body`` to ``url``, connecting only to the addresses its host was checked to have.
    ``limits`` gives its connect and read timeouts (default: the server's); the whole attempt
    is bounded by ``workers.runner`` (``workers.deadline``, or Celery's time limit).

    With ``destinations``, the call takes one of its destination's slots and passes its circuit
    breaker first (``workers.destinations``), and its outcome counts for that breaker.
    Mounts ``PinnedAdapter`` for https:// on ``session`` if it is not there yet.
    """
    try:
        target = check_target(url, config.target_allowlist)
    except UnsafeTarget as exc:  # a name that does not resolve now may resolve later
        return Outcome(ok=False, retryable=isinstance(exc, Unresolvable), error=str(exc))
    timeouts = limits or call_limits(config)
    if destinations is None:
        return _post_checked(config, target, body, headers, session, timeouts)
    destination = (target.url.scheme, target.url.host, target.url.port)
    try:
        with destinations.slot(destination):
            outcome = _post_checked(config, target, body, headers, session, timeouts)
            destinations.record(destination, failed=not outcome.ok and outcome.retryable)
    except Refused as exc:
        return Outcome(ok=False, retryable=True, error=str(exc), retry_after_s=exc.retry_after_s)
    return outcome


def new_session(config: Config) -> requests.Session:
    """A session for one process's calls: keep-alive connections to as many destinations as
    are remembered, each pool as large as a destination's in-flight cap (a smaller pool would
    open and throw away a connection per call beyond its size)."""
    session = requests.Session()
    # No proxy, netrc or CA bundle from the environment: a callback connects straight to the
    # address that was checked (and reading the environment cost a third of each call).
    session.trust_env = False
    size = config.destination_max_in_flight
    session.mount("http://", WatchedAdapter(pool_connections=256, pool_maxsize=size))
    session.mount("https://", PinnedAdapter(pool_connections=256, pool_maxsize=size))
    return session


def _post_checked(
    config: Config,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    session: requests.Session,
    limits: CallLimits,
) -> Outcome:
    if not isinstance(session.get_adapter("https://"), PinnedAdapter):
        session.mount("https://", PinnedAdapter())
    headers = {k: v for k, v in headers.items() if k.lower() != "host"}
    headers["Host"] = target.url.host_header
    started = time.monotonic()

    def send(address: IPAddress) -> requests.Response:
        request = requests.Request("POST", target.url.url_at(address), headers=headers, data=body)
        prepared = session.prepare_request(request)
        _refuse_unless_pinned(prepared, target.url, address)
        settings = session.merge_environment_settings(prepared.url, {}, True, None, None)
        timeout = (limits.connect_s, limits.read_s)
        return session.send(prepared, timeout=timeout, allow_redirects=False, **settings)

    try:
        response = _first_that_connects(send, target.addresses)
        with response:
            excerpt = _read_capped(response, config.response_body_cap_bytes)
    except UnsafeTarget as exc:
        return Outcome(ok=False, retryable=False, error=str(exc))
    except requests.RequestException as exc:
        return Outcome(ok=False, retryable=True, error=_failure(exc))
    limit = deadline.expired()
    if limit is not None:  # cut mid-answer: what was read may look whole, but is not
        return Outcome(ok=False, retryable=True, error=f"the attempt ran past {limit:g} s")
    latency_ms = int((time.monotonic() - started) * 1000)
    return answered(response.status_code, latency_ms, excerpt, response.headers.get("Retry-After"))


def answered(status: int, latency_ms: int, excerpt: str, retry_after: str | None) -> Outcome:
    """The outcome of a call the receiver answered: 2xx succeeded; 408, 425, 429 and 5xx are
    worth retrying (after the receiver's Retry-After, if it gave one); any other status is not."""
    result: dict[str, Any] = {"status": status, "latency_ms": latency_ms, "body": excerpt}
    if 200 <= status < 300:
        return Outcome(ok=True, result=result)
    return Outcome(
        ok=False,
        retryable=status in RETRYABLE_STATUSES or status >= 500,
        result=result,
        error=f"HTTP {status}",
        retry_after_s=parse_retry_after(retry_after, now_ms=now_ms()),
    )


def _failure(exc: requests.RequestException) -> str:
    limit = deadline.expired()
    if limit is not None:  # our watchdog shut the sockets (workers.deadline)
        return f"the attempt ran past {limit:g} s"
    return f"{type(exc).__name__}: {exc}"


class WatchedAdapter(HTTPAdapter):
    """requests' adapter, its connections bounded by the attempt's deadline (workers.deadline)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = deadline.POOL_CLASSES


class PinnedAdapter(WatchedAdapter):
    """For an https URL whose host is an IP literal and a ``Host`` header naming the real host:
    send that name as SNI and verify the certificate against it (needs requests >= 2.32).

    Both go in the pool kwargs, so they are part of urllib3's pool key: a connection verified
    for one name is never reused for another name on the same IP. Verification is never turned
    off; without this adapter, such a request fails verification (the certificate names the host,
    not the IP): it fails closed.
    """

    # types-requests' TypedDicts hold only the pool keys requests itself sets; urllib3 takes more.
    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[Mapping[str, object], dict[str, Any]]:
        host_params, sets = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs = cast(dict[str, Any], sets)
        ip = host_params["host"]
        name = urlsplit("//" + request.headers.get("Host", "")).hostname
        if host_params["scheme"] == "https" and name and name != ip and is_ip(ip):
            pool_kwargs["server_hostname"] = name  # SNI (and the name urllib3 checks)
            pool_kwargs["assert_hostname"] = name  # the certificate must match the name
        return host_params, pool_kwargs


def _first_that_connects(
    send: Callable[[IPAddress], requests.Response], addresses: tuple[IPAddress, ...]
) -> requests.Response:
    """``send`` to each address in the resolver's order, moving on only when no connection could
    be made (nothing was sent, so no double delivery). This is what requests did with a host's
    addresses before pinning, so a dual-stack host with broken IPv6 still gets its call."""
    *others, last = addresses
    for address in others:
        try:
            return send(address)
        except requests.ConnectionError as exc:
            if not _not_connected(exc):
                raise
    return send(last)


def is_ip(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return True


def _refuse_unless_pinned(
    prepared: requests.PreparedRequest, reading: ParsedUrl, address: IPAddress
) -> None:
    """The prepared request goes to the pinned address and port, and nowhere else."""
    parts = urllib3.util.parse_url(prepared.url or "")
    host = (parts.host or "").strip("[]")
    if not is_ip(host) or ipaddress.ip_address(host) != address or parts.port != reading.port:
        raise UnsafeTarget(f"url: the request would go to {parts.host}:{parts.port}, "
                           f"not to the checked {address}:{reading.port}")  # fmt: skip


def _not_connected(exc: requests.ConnectionError) -> bool:
    """Whether the request failed while connecting, before anything was sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _read_capped(response: requests.Response, cap: int) -> str:
    """At most ``cap`` bytes of the body, decoded leniently: enough to debug, never a bomb."""
    data = b""
    for chunk in response.iter_content(chunk_size=4096):
        data += chunk
        if len(data) >= cap:
            data = data[:cap]
            break
    return data.decode("utf-8", errors="replace")

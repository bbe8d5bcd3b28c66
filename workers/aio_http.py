"""The webhooks pool's HTTP client: callbacks as coroutines on the process's delivery loop.

The same rules as ``workers.http`` (which the push pool and task classes use), on aiohttp:

- one reading, pinned: ``shared.netguard`` reads the URL once and resolves its host once (a
  lookup runs on the loop's executor, so a slow DNS answer delays only its own callback); the
  request goes to exactly the addresses that passed, its URL rebuilt from that reading with the
  pinned IP as host and checked again as aiohttp will read it. The name travels in ``Host`` and,
  for https, as ``server_hostname``: SNI and certificate verification are against the name the
  user gave, and it is part of aiohttp's connection key, so a connection verified for one name
  is never reused for another on the same IP;
- connect and read timeouts, and ``SCHEDULER_ATTEMPT_TIME_LIMIT_S`` on the whole call (a
  receiver trickling one byte a second is cut there); a schedule's ``retry.timeout_s`` bounds
  all three (``CallLimits``);
- redirects never followed, the body read only up to a cap and never decompressed, no cookies
  kept between calls, nothing read from the environment (proxies, netrc);
- the per-destination cap and circuit breaker of ``workers.destinations``;
- the answer classified as ``workers.http.answered`` does.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, replace

import aiohttp
import yarl

from shared.config import Config
from shared.netguard import IPAddress, Target, Unresolvable, UnsafeTarget, check_target, read_url
from workers.destinations import Destinations, Refused
from workers.http import CallLimits, answered, call_limits, is_ip
from workers.runner import Outcome


def new_session(config: Config) -> aiohttp.ClientSession:
    """The session of one delivery loop (create it on that loop): up to
    ``SCHEDULER_DELIVERY_IN_FLIGHT`` connections in all, kept alive between calls."""
    connector = aiohttp.TCPConnector(
        limit=config.delivery_in_flight,
        limit_per_host=config.destination_max_in_flight,
        enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # one tenant's cookies never reach another's call
        auto_decompress=False,  # a small compressed answer must not grow into a large one
        trust_env=False,
        skip_auto_headers=("User-Agent",),
    )


@dataclass(frozen=True)
class Call:
    """One request as sent: its method, body and headers, and the limits it runs under."""

    method: str
    body: bytes
    headers: dict[str, str]
    limits: CallLimits
    body_cap: int


async def post(
    config: Config,
    url: str,
    body: bytes,
    headers: dict[str, str],
    session: aiohttp.ClientSession,
    destinations: Destinations | None = None,
    *,
    method: str = "POST",
    limits: CallLimits | None = None,
) -> Outcome:
    """Send ``body`` to ``url`` (see the module doc), by ``method``, within ``limits`` (default:
    the server's timeouts and attempt limit); never raises for what the receiver or the network
    does."""
    call = Call(
        method, body, headers, limits or call_limits(config), config.response_body_cap_bytes
    )
    try:
        target = await _checked(url, config.target_allowlist)
    except UnsafeTarget as exc:  # a name that does not resolve now may resolve later
        return Outcome(ok=False, retryable=isinstance(exc, Unresolvable), error=str(exc))
    if destinations is None:
        return await _post_checked(call, target, session)
    destination = (target.url.scheme, target.url.host, target.url.port)
    try:
        async with destinations.loop_slot(destination):
            outcome = await _post_checked(call, target, session)
            destinations.record(destination, failed=not outcome.ok and outcome.retryable)
    except Refused as exc:
        return Outcome(ok=False, retryable=True, error=str(exc), retry_after_s=exc.retry_after_s)
    return outcome


async def _checked(url: str, allowlist: tuple[str, ...] | list[str]) -> Target:
    """``check_target``; a host name is looked up off the loop."""
    if read_url(url).ip is not None:  # no lookup: checked here
        return check_target(url, allowlist)
    return await asyncio.get_running_loop().run_in_executor(None, check_target, url, allowlist)


async def _post_checked(call: Call, target: Target, session: aiohttp.ClientSession) -> Outcome:
    headers = {
        k: v for k, v in call.headers.items() if k.lower() not in ("host", "accept-encoding")
    }
    headers["Host"] = target.url.host_header
    headers["Accept-Encoding"] = "identity"
    call = replace(call, headers=headers)
    limit = call.limits.total_s
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            return await _first_that_connects(call, target, session, started)
    except TimeoutError:
        return Outcome(ok=False, retryable=True, error=f"the attempt ran past {limit:g} s")
    except (UnsafeTarget, ValueError) as exc:  # ValueError: a header aiohttp refuses to send
        return Outcome(ok=False, retryable=False, error=str(exc))
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome(ok=False, retryable=True, error=_failure(exc, call.limits))


async def _first_that_connects(
    call: Call, target: Target, session: aiohttp.ClientSession, started: float
) -> Outcome:
    """Send to each address in the resolver's order, moving on only when no connection could be
    made (nothing was sent, so no double delivery): a dual-stack host with broken IPv6 still
    gets its call."""
    *others, last = target.addresses
    for address in others:
        try:
            return await _send(call, target, address, session, started)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            continue
    return await _send(call, target, last, session, started)


async def _send(
    call: Call,
    target: Target,
    address: IPAddress,
    session: aiohttp.ClientSession,
    started: float,
) -> Outcome:
    url = _pinned_url(target, address)
    name = target.url.host
    timeout = _timeouts(call.limits.connect_s, call.limits.read_s)
    async with session.request(
        call.method,
        url,
        data=call.body,
        headers=call.headers,
        allow_redirects=False,
        timeout=timeout,
        server_hostname=name if target.url.scheme == "https" and not is_ip(name) else None,
    ) as response:
        excerpt = await _read_capped(response, call.body_cap)
        latency_ms = int((time.monotonic() - started) * 1000)
        return answered(response.status, latency_ms, excerpt, response.headers.get("Retry-After"))


@functools.lru_cache(maxsize=64)
def _timeouts(connect_s: float, read_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=connect_s, sock_read=read_s)


def _failure(exc: aiohttp.ClientError | OSError, limits: CallLimits) -> str:
    """What went wrong, in the words ``workers.http`` uses for the same failures."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"ConnectTimeout: no connection within {limits.connect_s:g} s"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return f"ReadTimeout: no data for {limits.read_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"ConnectionError: cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "ConnectionError: the receiver closed the connection without a whole answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"ConnectionError: the answer was cut short ({exc})"
    return f"ConnectionError: {type(exc).__name__}: {exc}"


def _pinned_url(target: Target, address: IPAddress) -> yarl.URL:
    """The URL aiohttp is given, read as aiohttp reads it: it goes to the pinned address and
    port, and nowhere else."""
    url = yarl.URL(target.url.url_at(address), encoded=True)
    # url_at writes the address as str() does: any other spelling is a reading of its own
    if (url.raw_host or "").strip("[]") != str(address) or url.port != target.url.port:
        raise UnsafeTarget(
            f"url: the request would go to {url.raw_host}:{url.port}, "
            f"not to the checked {address}:{target.url.port}"
        )
    return url


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> str:
    """At most ``cap`` bytes of the body, decoded leniently: enough to debug, never a bomb."""
    data = b""
    while len(data) < cap:
        chunk = await response.content.read(cap - len(data))
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", errors="replace")

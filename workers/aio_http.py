"""The webhooks pool's HTTP client: callbacks as coroutines on the process's delivery loop.

The same rules as ``workers.http`` (which the push pool and task classes use), on the delivery
loop, its HTTP/1.1 exchanges those of ``workers.h1``:

- one reading, pinned: ``shared.netguard`` reads the URL once and resolves its host once (a
  lookup runs on the loop's executor, so a slow DNS answer delays only its own callback); the
  connection goes to exactly the addresses that passed (numeric: no second lookup), and the
  request line carries the reading's path and query. The name travels in ``Host`` and, for
  https, as the TLS server name: SNI and certificate verification are against the name the user
  gave, and it is part of the connection's key, so a connection verified for one name is never
  reused for another on the same IP;
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
import time
from dataclasses import dataclass

from shared.config import Config
from shared.netguard import IPAddress, Target, Unresolvable, UnsafeTarget, check_target, read_url
from workers import h1
from workers.destinations import Destinations, Refused
from workers.http import CallLimits, answered, call_limits
from workers.runner import Outcome

Session = h1.Pool


def new_session(config: Config) -> Session:
    """The kept-alive connections of one delivery loop (use them on that loop): at most
    ``SCHEDULER_DESTINATION_MAX_IN_FLIGHT`` idle per destination address. Connections in use
    are bounded by the calls in flight (``SCHEDULER_DELIVERY_IN_FLIGHT``), one each."""
    return h1.Pool(idle_per_key=config.destination_max_in_flight)


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
    session: Session,
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


async def _post_checked(call: Call, target: Target, session: Session) -> Outcome:
    headers = {k: v for k, v in call.headers.items() if k.lower() != "accept-encoding"}
    headers["Accept-Encoding"] = "identity"  # an answer is read as sent, never decompressed
    if not any(k.lower() == "accept" for k in headers):
        headers["Accept"] = "*/*"
    limit = call.limits.total_s
    started = time.monotonic()
    try:
        request = h1.request_bytes(
            call.method, target.url.request_uri, target.url.host_header, headers, call.body
        )
        async with asyncio.timeout(limit):
            return await _first_that_connects(call, request, target, session, started)
    except TimeoutError:
        return Outcome(ok=False, retryable=True, error=f"the attempt ran past {limit:g} s")
    except ValueError as exc:  # a method, header or path that would split the request
        return Outcome(ok=False, retryable=False, error=str(exc))
    except (h1.ConnectFailed, h1.ReadTimedOut, h1.Disconnected, h1.BadAnswer, OSError) as exc:
        return Outcome(ok=False, retryable=True, error=_failure(exc, call.limits))


async def _first_that_connects(
    call: Call, request: bytes, target: Target, session: Session, started: float
) -> Outcome:
    """Send to each address in the resolver's order, moving on only when no connection could be
    made (nothing was sent, so no double delivery): a dual-stack host with broken IPv6 still
    gets its call."""
    *others, last = target.addresses
    for address in others:
        try:
            return await _send(call, request, target, address, session, started)
        except h1.ConnectFailed:
            continue
    return await _send(call, request, target, last, session, started)


async def _send(
    call: Call,
    request: bytes,
    target: Target,
    address: IPAddress,
    session: Session,
    started: float,
) -> Outcome:
    url = target.url
    key = (url.scheme, str(address), url.port, url.host)
    limits = call.limits
    answer = await session.exchange(key, request, limits.connect_s, limits.read_s, call.body_cap)
    latency_ms = int((time.monotonic() - started) * 1000)
    excerpt = answer.body.decode("utf-8", errors="replace")  # enough to debug, never a bomb
    return answered(answer.status, latency_ms, excerpt, answer.retry_after)


def _failure(exc: Exception, limits: CallLimits) -> str:
    """What went wrong, in the words ``workers.http`` uses for the same failures."""
    if isinstance(exc, h1.ConnectTimedOut):
        return f"ConnectTimeout: no connection within {limits.connect_s:g} s"
    if isinstance(exc, h1.ReadTimedOut):
        return f"ReadTimeout: no data for {limits.read_s:g} s"
    if isinstance(exc, h1.ConnectFailed) and str(exc).startswith("SSLError"):
        return str(exc)
    if isinstance(exc, h1.ConnectFailed):
        return f"ConnectionError: cannot connect to {exc}"
    if isinstance(exc, (h1.Disconnected, h1.BadAnswer)):
        return f"ConnectionError: {exc}"
    return f"ConnectionError: {type(exc).__name__}: {exc}"

"""One outbound HTTP call with the safety rules every pool needs.

Timeouts on connect and read, redirects never followed (a redirect could point anywhere, including
inside our network), the response body read only up to a cap, the target checked against the
address rules at connect time, and the answer classified for the retry policy.

Pinning (against DNS rebinding): the host is resolved once, by the check, and the request goes to
exactly the addresses that passed it. The URL handed to requests names the pinned IP, so nothing
resolves the host again; the original name travels in the ``Host`` header, and for https
``PinnedAdapter`` makes it the TLS name too (SNI and the certificate check), so verification is
against the host the user gave, never against the IP.
"""

from __future__ import annotations

import email.utils
import ipaddress
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from shared.config import Config
from shared.netguard import IPAddress, Target, UnsafeTarget, check_target
from workers.runner import Outcome

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def post(
    config: Config, url: str, body: bytes, headers: dict[str, str], session: requests.Session
) -> Outcome:
    """POST ``body`` to ``url``, connecting only to the addresses its host was checked to have.

    Mounts ``PinnedAdapter`` for https:// on ``session`` if it is not there yet.
    """
    try:
        target = check_target(url, config.target_allowlist)
    except UnsafeTarget as exc:
        return Outcome(ok=False, retryable=False, error=str(exc))
    if not isinstance(session.get_adapter("https://"), PinnedAdapter):
        session.mount("https://", PinnedAdapter())
    headers = {k: v for k, v in headers.items() if k.lower() != "host"}
    headers["Host"] = _host_header(target)
    started = time.monotonic()

    def send(address: IPAddress) -> requests.Response:
        return session.post(
            _pinned_url(url, target, address),
            data=body,
            headers=headers,
            timeout=(config.http_connect_timeout_s, config.http_read_timeout_s),
            allow_redirects=False,
            stream=True,
        )

    try:
        response = _first_that_connects(send, target.addresses)
    except requests.RequestException as exc:
        return Outcome(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
    with response:
        excerpt = _read_capped(response, config.response_body_cap_bytes)
    result: dict[str, Any] = {
        "status": response.status_code,
        "latency_ms": int((time.monotonic() - started) * 1000),
        "body": excerpt,
    }
    if 200 <= response.status_code < 300:
        return Outcome(ok=True, result=result)
    retryable = response.status_code in RETRYABLE_STATUSES or response.status_code >= 500
    return Outcome(
        ok=False,
        retryable=retryable,
        result=result,
        error=f"HTTP {response.status_code}",
        retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
    )


class PinnedAdapter(HTTPAdapter):
    """For an https URL whose host is an IP literal and a ``Host`` header naming the real host:
    send that name as SNI and verify the certificate against it (needs requests >= 2.32).

    Both go in the pool kwargs, so they are part of urllib3's pool key: a connection verified
    for one name is never reused for another name on the same IP. Verification is never turned
    off; without this adapter, such a request fails verification (the certificate names the host,
    not the IP): it fails closed.
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        ip = host_params["host"]
        name = urlsplit("//" + request.headers.get("Host", "")).hostname
        if host_params["scheme"] == "https" and name and name != ip and _is_ip(ip):
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


def _is_ip(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return True


def _host_header(target: Target) -> str:
    """The ``Host`` header requests would have sent for the URL (IDNA, port only if not default)."""
    host = target.host if target.host.isascii() else target.host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _pinned_url(url: str, target: Target, address: IPAddress) -> str:
    """``url`` with its host replaced by ``address`` (user info, path and query kept)."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    ip = f"[{address}]" if address.version == 6 else str(address)
    return parts._replace(netloc=f"{userinfo}{at}{ip}:{target.port}").geturl()


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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))

"""One outbound HTTP call with the safety rules every pool needs.

Timeouts on connect and read, redirects never followed (a redirect could point anywhere, including
inside our network), the response body read only up to a cap, the target checked against the
address rules at connect time, and the answer classified for the retry policy.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import requests

from shared.config import Config
from shared.netguard import UnsafeTarget, check_url
from workers.runner import Outcome

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def post(
    config: Config, url: str, body: bytes, headers: dict[str, str], session: requests.Session
) -> Outcome:
    try:
        check_url(url, config.target_allowlist)
    except UnsafeTarget as exc:
        return Outcome(ok=False, retryable=False, error=str(exc))
    started = time.monotonic()
    try:
        response = session.post(
            url,
            data=body,
            headers=headers,
            timeout=(config.http_connect_timeout_s, config.http_read_timeout_s),
            allow_redirects=False,
            stream=True,
        )
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

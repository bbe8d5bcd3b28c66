"""One HTTP exchange with the API: auth, timeouts, problem documents, and retries where safe.

A request is retried only when doing it twice can't do twice what it asks: GET, PUT and DELETE
(idempotent methods), or a POST that carries an ``Idempotency-Key`` (the API answers the first
answer again). It is retried after a connection error or timeout, a 429 or 503 (waiting the
answer's ``Retry-After``, capped) and, for a POST, a 409 (its first try is still running).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from scheduler_sdk.errors import PROBLEM, ProblemError
from scheduler_sdk.types import FieldError

SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; between them ``backoff_s`` doubling (with jitter) up to
    ``max_wait_s``, or the server's Retry-After when it gives one (capped by ``max_wait_s`` too)."""

    attempts: int = 3
    backoff_s: float = 0.5
    max_wait_s: float = 30.0

    def wait_s(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_wait_s)
        backoff = self.backoff_s * 2.0 ** (attempt - 1)
        return min(backoff * random.uniform(0.5, 1.0), self.max_wait_s)


NO_RETRY = RetryPolicy(attempts=1)


class Transport:
    def __init__(
        self, http: httpx.Client, retry: RetryPolicy, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.http, self.retry, self.sleep = http, retry, sleep

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        repeatable: bool = False,
    ) -> Any:
        """The answer's JSON (None for an empty answer); a ProblemError for an error answer.
        ``repeatable``: a POST that changes nothing (a preview), safe to send again."""
        given = dict(headers or {})
        safe = repeatable or method in SAFE_METHODS or IDEMPOTENCY_HEADER in given
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts or not safe
            try:
                response = self.http.request(method, path, json=json, params=params, headers=given)
            except httpx.TransportError:
                if last:
                    raise
                self.sleep(self.retry.wait_s(attempt, None))
                continue
            if response.is_success:
                return response.json() if response.content else None
            error = problem_of(response)
            if last or not retryable(method, response.status_code):
                raise error
            self.sleep(self.retry.wait_s(attempt, error.retry_after_s))
        raise AssertionError("unreachable: the last attempt returns or raises")


def retryable(method: str, status: int) -> bool:
    return status in RETRY_STATUSES or (status == 409 and method == "POST")


def problem_of(response: httpx.Response) -> ProblemError:
    retry_after = retry_after_s(response.headers.get("Retry-After"))
    body: Any = None
    if response.headers.get("Content-Type", "").startswith((PROBLEM, "application/json")):
        try:
            body = response.json()
        except ValueError:
            body = None
    if not isinstance(body, dict):
        detail = response.text[:500] or response.reason_phrase
        status, title = response.status_code, response.reason_phrase
        return ProblemError(status, title, detail, retry_after_s=retry_after)
    return ProblemError(
        status=int(body.get("status", response.status_code)),
        title=str(body.get("title", response.reason_phrase)),
        detail=str(body.get("detail", "")),
        errors=field_errors(body.get("errors")),
        problem=body,
        retry_after_s=retry_after,
    )


def field_errors(found: Any) -> list[FieldError]:
    """The problem's ``errors`` list (each bad field), keeping only well-formed entries."""
    if not isinstance(found, list):
        return []
    return [
        FieldError(field=str(entry.get("field", "")), detail=str(entry.get("detail", "")))
        for entry in found
        if isinstance(entry, dict)
    ]


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)

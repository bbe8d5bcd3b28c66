"""A schedule's delivery policy: how many attempts, how far apart, how long each may take, and
which URL hears about an execution that dies.

Pure data, no I/O. A ``Policy`` travels with every execution of its schedule (``Execution.policy``,
the message's ``policy``), so a worker applies it without reading the store, to retries and
redriven dead letters alike. Every field is optional: an absent one takes the server's setting,
so a schedule without a policy (every dialect's default) behaves exactly as before:

- ``max_attempts``: ``SCHEDULER_MAX_ATTEMPTS``;
- ``initial_s`` / ``max_s``: the backoff's base and cap, ``SCHEDULER_RETRY_BASE_S`` /
  ``SCHEDULER_RETRY_MAX_S`` (``shared.retry.compute_backoff``);
- ``timeout_s``: the whole of one attempt: an HTTP call's connect and read timeouts and its total
  (webhook, push), or a task class's run; without it, the connect/read timeouts
  ``SCHEDULER_HTTP_CONNECT_TIMEOUT_S`` / ``SCHEDULER_HTTP_READ_TIMEOUT_S`` apply and
  ``SCHEDULER_ATTEMPT_TIME_LIMIT_S`` bounds the attempt. Never longer than that limit.

``on_failure`` is a URL: when an execution is dead-lettered, a webhook execution of its own
(``shared.execution.failure_notice``) POSTs the dead letter there, signed as every callback is.
That notice has no policy of its own, so a notice that dies is a dead letter and calls nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.config import Config

# The bounds every dialect that exposes the policy checks (the native API's schema does).
MAX_ATTEMPTS = 100
MAX_BACKOFF_S = 24 * 3600
MAX_TIMEOUT_S = 3600


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int | None = None
    initial_s: int | None = None
    max_s: int | None = None
    timeout_s: int | None = None


@dataclass(frozen=True)
class Policy:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_failure: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The compact stored and wire form: ``{}`` for the default policy."""
        if self is DEFAULT:  # every dialect's schedules but the native's: the beat's hot path
            return {}
        retry = {k: v for k, v in vars(self.retry).items() if v is not None}
        data: dict[str, Any] = {}
        if retry:
            data["retry"] = retry
        if self.on_failure:
            data["on_failure"] = self.on_failure
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Policy:
        """Read leniently (a message's optional part): a value of the wrong type or out of
        bounds reads as absent, so a worker falls back to the server's setting."""
        if not isinstance(data, dict):
            return DEFAULT
        given = data.get("retry")
        retry: dict[str, Any] = given if isinstance(given, dict) else {}
        on_failure = data.get("on_failure")
        return cls(
            retry=RetryPolicy(
                max_attempts=_whole(retry.get("max_attempts"), MAX_ATTEMPTS),
                initial_s=_whole(retry.get("initial_s"), MAX_BACKOFF_S),
                max_s=_whole(retry.get("max_s"), MAX_BACKOFF_S),
                timeout_s=_whole(retry.get("timeout_s"), MAX_TIMEOUT_S),
            ),
            on_failure=on_failure if isinstance(on_failure, str) and on_failure else None,
        )

    def max_attempts(self, config: Config) -> int:
        return self.retry.max_attempts or config.max_attempts

    def backoff_s(self, config: Config) -> tuple[float, float]:
        """The backoff's (base, cap) in seconds."""
        base = self.retry.initial_s or config.retry_base_s
        cap = self.retry.max_s or config.retry_max_s
        return base, max(base, cap)

    def attempt_limit_s(self, config: Config) -> float:
        """How long one attempt may run in all."""
        limit = config.attempt_time_limit_s
        return min(limit, self.retry.timeout_s) if self.retry.timeout_s else limit

    def http_timeouts_s(self, config: Config) -> tuple[float, float]:
        """One HTTP call's (connect, read) timeouts."""
        connect, read = config.http_connect_timeout_s, config.http_read_timeout_s
        timeout = self.retry.timeout_s
        return (min(connect, timeout), min(read, timeout)) if timeout else (connect, read)


DEFAULT = Policy()


def _whole(value: Any, high: int) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high
    return value if ok else None

"""The client: credentials, timeouts and retries, and the native API's resources."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, cast

import httpx

from scheduler_sdk.resources import ApiKeys, DeadLetters, Schedules, instant
from scheduler_sdk.transport import IDEMPOTENCY_HEADER, RetryPolicy, Transport
from scheduler_sdk.types import Preview, Rotated, Trigger

DEFAULT_TIMEOUT_S = 10.0
AGENT = f"scheduler-sdk (python-httpx/{httpx.__version__})"


class Client:
    """A synchronous client of the native API (``/v1``).

    Give either ``api_key`` (a named key, sent as ``Authorization: Bearer``) or ``appkey`` and
    ``master_secret`` (HTTP Basic, every scope). Every POST carries an ``Idempotency-Key``: the
    one given, else a fresh one per call when ``idempotency_keys`` is on (the default), so a POST
    retried after a lost answer is done once. ``timeout_s`` bounds each try; ``retry`` says how
    often and how long to wait (see ``RetryPolicy``). ``transport`` is an httpx transport to use
    instead of the network's (a test's, a proxy's); ``verify`` is httpx's TLS check (False, or an
    ``ssl.SSLContext`` trusting your own CA, for a server with a private certificate).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        appkey: str | None = None,
        master_secret: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        idempotency_keys: bool = True,
        transport: httpx.BaseTransport | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=credentials(api_key, appkey, master_secret),
            timeout=timeout_s,
            transport=transport,
            verify=verify,
            headers={"Accept": "application/json, application/problem+json", "User-Agent": AGENT},
        )
        self._transport = Transport(self._http, retry or RetryPolicy())
        self._idempotency_keys = idempotency_keys
        self.schedules = Schedules(self._transport, self._post)
        self.dead_letters = DeadLetters(self._transport, self._post)
        self.api_keys = ApiKeys(self._transport, self._post)

    def preview(
        self,
        trigger: Trigger,
        *,
        timezone: str | None = None,
        dst: Literal["cron", "skip"] | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        max_runs: int | None = None,
        count: int | None = None,
    ) -> Preview:
        """The next fires of a trigger that is not saved (nothing is stored)."""
        given: dict[str, Any] = {"timezone": timezone, "dst": dst, "max_runs": max_runs}
        given.update(start=start and instant(start), end=end and instant(end), count=count)
        body = {"trigger": trigger, **{k: v for k, v in given.items() if v is not None}}
        answer = self._transport.request("POST", "/v1/preview", json=body, repeatable=True)
        return cast(Preview, answer)

    def rotate_webhook_secret(
        self, *, overlap_s: int | None = None, idempotency_key: str | None = None
    ) -> Rotated:
        """A new signing secret (shown once); the old one signs too for ``overlap_s``."""
        body = {} if overlap_s is None else {"overlap_s": overlap_s}
        return cast(Rotated, self._post("/v1/webhook-secret/rotate", body, idempotency_key))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: Any, idempotency_key: str | None) -> Any:
        key = idempotency_key or (uuid.uuid4().hex if self._idempotency_keys else None)
        headers: Mapping[str, str] = {IDEMPOTENCY_HEADER: key} if key else {}
        return self._transport.request("POST", path, json=body, headers=headers)


def credentials(api_key: str | None, appkey: str | None, master_secret: str | None) -> httpx.Auth:
    if api_key is not None and appkey is None and master_secret is None:
        return BearerAuth(api_key)
    if api_key is None and appkey is not None and master_secret is not None:
        return httpx.BasicAuth(appkey, master_secret)
    raise ValueError("give either api_key, or appkey and master_secret")


class BearerAuth(httpx.Auth):
    def __init__(self, key: str) -> None:
        self._header = f"Bearer {key}"

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = self._header
        yield request

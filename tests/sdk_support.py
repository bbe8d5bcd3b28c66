"""What the SDK's tests share: a real API served on 127.0.0.1 (real Redis), an account on it,
and an httpx transport that records each exchange (and can lose an answer, as a network can)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scheduler_api.app import create_app
from scheduler_sdk import Client, RetryPolicy
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import ServedApp, fresh_api_config, now_ms

FAST_RETRY = RetryPolicy(attempts=3, backoff_s=0.01, max_wait_s=5.0)


@dataclass
class Served:
    url: str
    store: Store
    config: Config

    def account(self) -> dict[str, str]:
        key = load_secret_key(self.config)
        return create_account(
            self.store, f"sdk-{uuid.uuid4().hex[:8]}", secret_key=key, now_ms=now_ms()
        )

    def client(self, creds: dict[str, str], **options: Any) -> Client:
        options.setdefault("retry", FAST_RETRY)
        return Client(
            self.url, appkey=creds["appkey"], master_secret=creds["master_secret"], **options
        )


def served_api(redis_url: str, workdir: Path, **settings: Any) -> Iterator[Served]:
    """The API over real HTTP for a module (its Redis emptied first)."""
    config = fresh_api_config(redis_url, workdir, **settings)
    store = Store.from_url(config.redis_url, config.key_prefix)
    with ServedApp(create_app(config)) as served:
        yield Served(served.url, store, config)


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    idempotency_key: str | None
    replayed: bool


class Recording(httpx.BaseTransport):
    """The network, recording every exchange; with ``lose_answers`` the first that many POST
    answers are lost after the server acted on them (a timeout reading the answer)."""

    def __init__(self, lose_answers: int = 0) -> None:
        self.inner = httpx.HTTPTransport()
        self.lose_answers = lose_answers
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append(
            Exchange(
                request.method,
                request.url.path,
                response.status_code,
                request.headers.get("Idempotency-Key"),
                response.headers.get("Idempotent-Replayed") == "true",
            )
        )
        if request.method == "POST" and self.lose_answers > 0:
            self.lose_answers -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    def close(self) -> None:
        self.inner.close()

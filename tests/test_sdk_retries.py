"""The SDK's retries against the real API on 127.0.0.1: a POST whose answer is lost is sent
again with its Idempotency-Key and done once; one without a key is not sent again; a 429 is
waited out for its Retry-After. And the receivers' helper: Standard Webhooks signatures as the
webhooks pool makes them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from scheduler_sdk import (
    NO_RETRY,
    Client,
    ProblemError,
    RetryPolicy,
    WebhookVerificationError,
    verify_webhook,
)
from scheduler_sdk.transport import Transport, retry_after_s
from scheduler_sdk.types import ScheduleInput
from tests.sdk_support import Recording, Served, served_api
from tests.support import HttpReceiver
from workers.signing import signature_headers

NIGHTLY: ScheduleInput = {
    "name": "nightly",
    "trigger": {"cron": "0 3 * * *"},
    "target": {"webhook": {"url": "http://127.0.0.1:9/hook"}},
}


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from served_api(redis_url, tmp_path_factory.mktemp("sdk-retries"))


def test_a_post_whose_answer_is_lost_is_retried_with_its_key_and_done_once(api: Served) -> None:
    network = Recording(lose_answers=1)
    with api.client(api.account(), transport=network) as client:
        made = client.schedules.create(NIGHTLY)
        first, second = network.exchanges
        assert first.status == second.status == 201 and second.replayed
        assert first.idempotency_key and first.idempotency_key == second.idempotency_key
        assert [s["id"] for s in client.schedules.list()] == [made["id"]]


def test_a_given_idempotency_key_answers_the_first_answer_again(api: Served) -> None:
    with api.client(api.account()) as client:
        made = client.schedules.create(NIGHTLY, idempotency_key="k-1")
        again = client.schedules.create(NIGHTLY, idempotency_key="k-1")
        assert again["id"] == made["id"]
        with pytest.raises(ProblemError) as other:
            client.schedules.create({**NIGHTLY, "name": "x"}, idempotency_key="k-1")
        assert other.value.status == 422 and "Idempotency-Key" in other.value.fields


def test_a_post_without_a_key_is_not_sent_twice(api: Served) -> None:
    network = Recording(lose_answers=1)
    creds = api.account()
    with api.client(creds, transport=network, idempotency_keys=False) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.schedules.create(NIGHTLY)
        assert len(network.exchanges) == 1 and network.exchanges[0].idempotency_key is None


def test_a_429_is_retried_after_its_retry_after(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("sdk-429")
    for limited in served_api(redis_url, workdir, rate_limit_per_account="2/second"):
        network = Recording()
        with limited.client(limited.account(), transport=network) as client:
            for _ in range(3):
                client.schedules.page()
        statuses = [exchange.status for exchange in network.exchanges]
        assert statuses.count(429) >= 1 and statuses[-1] == 200 and len(statuses) <= 5
        impatient = limited.client(limited.account(), retry=NO_RETRY)
        with impatient, pytest.raises(ProblemError) as refused:
            for _ in range(3):
                impatient.schedules.page()
        assert refused.value.status == 429 and refused.value.retry_after_s is not None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None


def test_an_answer_that_is_not_a_problem_document_still_raises_problem_error() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    mock = httpx.MockTransport(proxy)
    client = Client("http://api", appkey="a", master_secret="b", transport=mock)
    with client, pytest.raises(ProblemError) as failed:
        client.schedules.get("x")
    assert failed.value.status == 502 and "bad gateway" in failed.value.detail


def test_a_callback_signed_as_the_pool_signs_verifies() -> None:
    secret, old = "whsec_" + "a" * 43 + "=", "whsec_" + "b" * 43 + "="
    now, body = int(time.time()), b'{"hello":"world"}'
    headers = signature_headers([old, secret], "exec-1", now, body)  # a rotation's two
    assert verify_webhook(secret, body, headers) == "exec-1"
    assert verify_webhook(old, body, headers) == "exec-1"
    Webhook(secret).verify(body, headers)  # the reference library agrees
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, body, headers, now_s=now + 3600)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, body, {"webhook-id": "exec-1"})


def test_a_slow_answer_times_out_and_a_keyed_post_is_sent_again_with_the_same_key() -> None:
    with HttpReceiver(hang_prefix="/v1/") as silent:
        retry = RetryPolicy(attempts=2, backoff_s=0.01)
        client = Client(silent.url, api_key="sk_x", timeout_s=0.3, retry=retry)
        started = time.monotonic()
        with client, pytest.raises(httpx.ReadTimeout):
            client.schedules.create(NIGHTLY)
        assert time.monotonic() - started < 5
        keys = [hit.headers["Idempotency-Key"] for hit in silent.requests]
        assert len(keys) == 2 and keys[0] == keys[1]


def scripted(*answers: httpx.Response) -> tuple[Transport, list[str], list[float]]:
    """A Transport over a scripted server: the methods it was sent and the waits it slept."""
    sent: list[str] = []
    waits: list[float] = []
    queue = list(answers)

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return queue.pop(0)

    http = httpx.Client(base_url="http://api", transport=httpx.MockTransport(server))
    retry = RetryPolicy(attempts=3, backoff_s=0.01, max_wait_s=7)
    return Transport(http, retry, sleep=waits.append), sent, waits


def busy(status: int, retry_after: str) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": retry_after}, json={"status": status})


def test_waits_follow_retry_after_capped_by_max_wait() -> None:
    transport, sent, waits = scripted(busy(503, "2"), busy(429, "60"), httpx.Response(200, json={}))
    assert transport.request("GET", "/v1/schedules") == {}
    assert sent == ["GET"] * 3 and waits == [2.0, 7.0]


def test_only_safe_requests_are_retried() -> None:
    transport, sent, _ = scripted(busy(503, "1"))
    with pytest.raises(ProblemError) as refused:
        transport.request("PATCH", "/v1/schedules/x", json={})
    assert refused.value.status == 503 and sent == ["PATCH"]
    transport, sent, _ = scripted(httpx.Response(409, json={}), httpx.Response(201, json={}))
    assert transport.request("POST", "/v1/schedules", headers={"Idempotency-Key": "k"}) == {}
    assert sent == ["POST", "POST"]  # its first try was still running: asked again
    transport, sent, _ = scripted(httpx.Response(409, json={}))
    with pytest.raises(ProblemError):
        transport.request("PUT", "/v1/schedules/x", json={})
    assert sent == ["PUT"]  # a 409 to anything else is an answer, not a wait

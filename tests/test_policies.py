"""A schedule's delivery policy (``shared.policy``): it travels with every execution, the runner
counts attempts and spaces retries by it, a death queues its failure notice atomically, and the
native API takes ``retry``, ``on_failure`` and a webhook's ``headers`` and ``method`` (refusing
what the server cannot honour, naming the field). The store on a real Redis."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.config import Config
from shared.contract import RunStatus
from shared.execution import FAILURE_EVENT, Execution, new_execution
from shared.model import Schedule
from shared.policy import Policy, RetryPolicy
from shared.store import Store
from tests.factories import once, webhook_schedule
from tests.support import UNLIMITED, HttpReceiver, basic
from workers.http import call_limits, new_session, post
from workers.runner import Outcome, settlement
from workers.webhooks import callback_request

Client = tuple[FlaskClient, dict[str, str]]
T0 = 1_800_000_000_000
POLICY = Policy(
    RetryPolicy(max_attempts=2, initial_s=7, max_s=9, timeout_s=1), "http://127.0.0.1:9/f"
)
FAILED = Outcome(ok=False, retryable=True, error="HTTP 500")


def execution(policy: Policy = POLICY, attempt: int = 1, **spec: Any) -> Execution:
    schedule = webhook_schedule(once(T0), policy=policy)
    if spec:
        schedule = replace(
            schedule, target=replace(schedule.target, spec={**schedule.target.spec, **spec})
        )
    return replace(new_execution(schedule, f"{schedule.id}:{T0}", T0, T0), attempt=attempt)


def test_the_policy_travels_in_the_stored_schedule_and_in_every_message() -> None:
    schedule = webhook_schedule(once(T0), policy=POLICY)
    assert Schedule.from_dict(schedule.to_dict()).policy == POLICY
    body = execution().to_message()
    assert body["policy"] == {
        "retry": {"max_attempts": 2, "initial_s": 7, "max_s": 9, "timeout_s": 1},
        "on_failure": "http://127.0.0.1:9/f",
    }
    assert Execution.from_message(body).policy == POLICY
    # The default policy writes nothing: every dialect's messages stay as they were.
    assert "policy" not in execution(Policy()).to_message()
    assert "policy" not in webhook_schedule(once(T0)).to_dict()


@pytest.mark.parametrize(
    "given",
    [{"retry": {"max_attempts": 0, "timeout_s": True}}, {"retry": "x"}, "x", {"on_failure": 5}],
)
def test_a_policy_of_the_wrong_shape_reads_as_the_servers_settings(given: Any) -> None:
    assert Policy.from_dict(given) == Policy()


def test_the_policy_takes_over_the_servers_settings_field_by_field(config: Config) -> None:
    assert POLICY.max_attempts(config) == 2 and POLICY.backoff_s(config) == (7, 9)
    assert call_limits(config, POLICY) == replace(
        call_limits(config), connect_s=1, read_s=1, total_s=1
    )
    default = Policy()
    assert default.max_attempts(config) == config.max_attempts
    assert default.backoff_s(config) == (config.retry_base_s, config.retry_max_s)
    assert call_limits(config).read_s == config.http_read_timeout_s


def test_the_runner_retries_within_the_policys_backoff_then_dead_letters_at_its_last_attempt(
    config: Config,
) -> None:
    first = settlement(config, execution(), FAILED, T0, T0 + 10)
    assert first.outcome == "retry" and first.record.status == RunStatus.RETRYING
    assert T0 + 10 + 3500 <= first.retry_at_ms <= T0 + 10 + 7000  # half to all of initial_s
    assert first.payload and first.payload["execution"]["policy"] == POLICY.to_dict()
    assert first.notice is None
    last = settlement(config, execution(attempt=2), FAILED, T0, T0 + 10)
    assert last.outcome == "dead" and last.record.status == RunStatus.DEAD
    # The dead letter keeps the policy: a redrive (retry_payload of its message) applies it.
    assert last.payload and last.payload["execution"]["policy"] == POLICY.to_dict()


def test_a_death_with_on_failure_carries_a_signed_notice_that_has_no_policy(config: Config) -> None:
    dead = execution(attempt=2)
    finish = settlement(config, dead, FAILED, T0, T0 + 10)
    assert finish.notice is not None
    notice_id, retry = finish.notice
    assert notice_id == f"{dead.id}:on-failure-2"
    notice = Execution.from_message(retry["execution"])
    assert retry["queue"] == "webhooks" and notice.attempt == 1 and notice.policy == Policy()
    assert notice.account == dead.account and notice.spec["url"] == "http://127.0.0.1:9/f"
    body = json.loads(notice.spec["data"])
    assert body["type"] == FAILURE_EVENT and body["data"]["execution"] == dead.id
    assert body["data"]["error"] == "HTTP 500" and body["data"]["attempt"] == 2
    # The notice is retried as any callback is, and its own death tells nobody.
    assert settlement(config, notice, FAILED, T0, T0).outcome == "retry"
    last = settlement(config, replace(notice, attempt=config.max_attempts), FAILED, T0, T0)
    assert last.outcome == "dead" and last.notice is None


def test_a_death_queues_its_notice_in_the_same_step_and_the_beat_claims_it(store: Store) -> None:
    dead = execution(attempt=2)
    assert store.begin_execution(dead.id, 2, 60, now_ms=T0, lease_ms=1000) == "run"
    finish = settlement(Config.from_env({}, **UNLIMITED), dead, FAILED, T0, T0 + 10)
    store.finish_execution(
        finish.record, finish.outcome, account=dead.account, now_ms=T0 + 10, history_cap=10,
        retention_s=60, payload=finish.payload, notice=finish.notice,
    )  # fmt: skip
    assert finish.notice is not None
    claimed = store.claim(T0 + 10, 1000, 10, "beat").entries
    assert [(e.kind, e.member) for e in claimed] == [("r", finish.notice[0])]
    assert json.loads(claimed[0].body) == finish.notice[1]
    assert [letter["execution"]["id"] for letter in store.dead_letters()] == [dead.id]


def test_the_callback_sends_the_schedules_headers_and_method_and_never_lets_them_sign() -> None:
    call = callback_request(
        execution(method="PUT", headers={"X-Team": "ops", "webhook-signature": "v1,forged"})
    )
    assert call.method == "PUT" and call.headers["X-Team"] == "ops"
    assert "webhook-signature" not in call.headers  # refused at create; dropped if stored anyway
    assert callback_request(execution()).method == "POST"


# --- the native API --------------------------------------------------------------------------

HOOK = "http://127.0.0.1:9/hook"


def make(client: FlaskClient, creds: dict[str, str], webhook: Any = None, **doc: Any) -> Any:
    target = {"webhook": {"url": HOOK, **(webhook or {})}}
    body = {"name": "n", "trigger": {"cron": "0 3 * * *"}, "target": target, **doc}
    return client.post("/v1/schedules", json=body, headers=basic(creds))


def test_a_native_schedule_keeps_its_policy_headers_and_method(
    local_api: Client, store: Store
) -> None:
    client, creds = local_api
    retry = {"max_attempts": 3, "initial_s": 2, "max_s": 60, "timeout_s": 5}
    made = make(
        client, creds, {"method": "PATCH", "headers": {"Authorization": "Bearer t"}},
        retry=retry, on_failure="http://127.0.0.1:9/failed",
    )  # fmt: skip
    assert made.status_code == 201, made.get_data(as_text=True)
    view = made.get_json()
    assert view["retry"] == retry and view["on_failure"] == "http://127.0.0.1:9/failed"
    assert view["target"]["webhook"]["headers"] == {"Authorization": "Bearer t"}
    stored = store.get_schedule(view["id"])
    assert stored is not None
    assert stored.policy == Policy(RetryPolicy(**retry), "http://127.0.0.1:9/failed")
    assert stored.target.spec["method"] == "PATCH"
    patched = client.patch(
        f"/v1/schedules/{view['id']}", json={"retry": {"max_attempts": 9}}, headers=basic(creds)
    )
    assert patched.get_json()["retry"] == {**retry, "max_attempts": 9}


@pytest.mark.parametrize(
    ("webhook", "doc", "field"),
    [
        ({"headers": {"Host": "evil"}}, {}, "target.webhook.headers.Host"),
        (
            {"headers": {"webhook-signature": "v1,x"}},
            {},
            "target.webhook.headers.webhook-signature",
        ),
        (
            {"headers": {"Transfer-Encoding": "chunked"}},
            {},
            "target.webhook.headers.Transfer-Encoding",
        ),
        ({"headers": {"Connection": "close"}}, {}, "target.webhook.headers.Connection"),
        ({"headers": {"Upgrade": "h2c"}}, {}, "target.webhook.headers.Upgrade"),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, {}, "target.webhook.headers.X-A"),
        ({"headers": {"Bad Name": "1"}}, {}, "target.webhook.headers.Bad Name"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, {}, "target.webhook.headers.x-a"),
        ({"headers": {f"X-{n}": "1" for n in range(21)}}, {}, "target.webhook.headers"),
        ({"headers": {"X-A": 5}}, {}, "target.webhook.headers.X-A.value"),
        ({"method": "TRACE"}, {}, "target.webhook.method"),
        ({}, {"on_failure": "http://10.0.0.1/f"}, "on_failure"),
        ({}, {"on_failure": "ftp://127.0.0.1/f"}, "on_failure"),
        ({}, {"retry": {"timeout_s": 3600}}, "retry.timeout_s"),
        ({}, {"retry": {"initial_s": 10, "max_s": 5}}, "retry.max_s"),
        ({}, {"retry": {"max_attempts": 101}}, "retry.max_attempts"),
        ({}, {"retry": {"tries": 1}}, "retry.tries"),
    ],
)
def test_what_the_server_cannot_honour_is_a_problem_naming_the_field(
    local_api: Client, webhook: dict[str, Any], doc: dict[str, Any], field: str
) -> None:
    client, creds = local_api
    answer = make(client, creds, webhook, **doc)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert field in [error["field"] for error in answer.get_json()["errors"]], answer.get_json()


def test_a_beacon_jobs_time_is_its_agents(local_api: Client) -> None:
    client, creds = local_api
    target = {"beacon": {"tasks": [{"name": "t"}]}}
    body = {"name": "b", "trigger": {"cron": "0 3 * * *"}, "target": target}
    answer = client.post(
        "/v1/schedules", json={**body, "retry": {"timeout_s": 5}}, headers=basic(creds)
    )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.get_json()["errors"]] == ["retry.timeout_s"]
    kept = client.post(
        "/v1/schedules", json={**body, "retry": {"max_attempts": 2}}, headers=basic(creds)
    )
    assert kept.status_code == 201, kept.get_data(as_text=True)


def test_the_push_pools_client_gives_up_at_the_policys_timeout(config: Config) -> None:
    """The push gateway's call (``workers.http``) within ``call_limits``: a receiver that
    answers in 3 s is given up at the policy's 1 s."""
    allowed = replace(config, target_allowlist=("127.0.0.0/8",))
    limits = call_limits(allowed, POLICY)
    with HttpReceiver(delay_s=3.0) as slow:
        started = time.monotonic()
        outcome = post(allowed, slow.url + "/push", b"{}", {}, new_session(allowed), None, limits)
        took_s = time.monotonic() - started
    assert not outcome.ok and outcome.retryable and "ReadTimeout" in (outcome.error or "")
    assert 0.9 <= took_s < 2.5

"""A native schedule's delivery policy end to end: the API writes, one real beat, a webhooks
worker and a tasks worker (for the whole module) deliver to receivers on 127.0.0.1 that fail,
answer slowly or record what came; signatures are checked with ``standardwebhooks``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from shared.store import Store
from shared.timing import parse_iso8601
from tests.native_support import Stack, running_stack
from tests.support import HttpReceiver, basic, iso, now_ms, wait_until

pytestmark = pytest.mark.e2e

SLOW_CLASS = "\\Tests\\SlowTask"  # an HTTP-mapped task class whose endpoint answers in 3 s


@dataclass
class Policies:
    """The native stack (its receiver ``ok`` answers 200 at once), and two more receivers."""

    stack: Stack
    failing: HttpReceiver  # answers 500
    slow: HttpReceiver  # answers after 3 s
    store: Store

    @property
    def ok(self) -> HttpReceiver:
        return self.stack.receiver

    @property
    def creds(self) -> dict[str, str]:
        return self.stack.creds

    def create(self, target: dict[str, Any], **doc: Any) -> Any:
        body = {"name": "policy", "trigger": {"at": iso(now_ms() + 1000)}, "target": target, **doc}
        return self.stack.post("/v1/schedules", body)

    def schedule(self, target: dict[str, Any], **doc: Any) -> dict[str, Any]:
        made = self.create(target, **doc)
        assert made.status_code == 201, made.get_data(as_text=True)
        view: dict[str, Any] = made.get_json()
        return view

    def runs(self, schedule_id: str) -> list[dict[str, Any]]:
        page = self.stack.api.get(f"/v1/schedules/{schedule_id}/runs", headers=basic(self.creds))
        items: list[dict[str, Any]] = page.get_json()["items"]
        return items


def hits(receiver: HttpReceiver, path: str) -> list[Any]:
    with receiver._lock:
        return [hit for hit in receiver.requests if hit.path == path]


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Policies]:
    workdir = tmp_path_factory.mktemp("policies-e2e")
    with (
        HttpReceiver() as ok,
        HttpReceiver(statuses=[500]) as failing,
        HttpReceiver(delay_s=3.0) as slow,
    ):
        classes = workdir / "task-classes.json"
        classes.write_text(json.dumps({SLOW_CLASS: f"{slow.url}/task"}))
        pools = {
            "webhooks": {},
            "tasks": {"concurrency": 1, "task_classes_file": str(classes)},
        }
        with running_stack(redis_url, workdir, ok, pools, task_classes_file=str(classes)) as native:
            yield Policies(native, failing, slow, Store.from_url(redis_url))


def test_two_attempts_then_a_dead_letter_and_one_signed_notice_to_on_failure(
    stack: Policies,
) -> None:
    target = {"webhook": {"url": f"{stack.failing.url}/dies", "body": {"n": 1}}}
    view = stack.schedule(
        target, retry={"max_attempts": 2, "initial_s": 1}, on_failure=f"{stack.ok.url}/failed"
    )
    notice = wait_until(lambda: (hits(stack.ok, "/failed") or [None])[0], what="the notice")
    attempts = hits(stack.failing, "/dies")
    assert len(attempts) == 2  # died at its own max_attempts, not the server's 5
    execution = attempts[0].headers["webhook-id"]
    runs = stack.runs(view["id"])
    assert [(r["attempt"], r["status"]) for r in runs] == [(2, "dead"), (1, "retrying")]
    # initial_s 1: the retry came half a second to a second after the first attempt ended
    assert 400 <= attempts[1].at_ms - attempts[0].at_ms <= 2500

    Webhook(stack.creds["webhook_secret"]).verify(notice.body, notice.headers)  # raises if bad
    assert notice.method == "POST" and notice.headers["webhook-id"] == f"{execution}:on-failure-2"
    told = json.loads(notice.body)
    assert told["type"] == "execution.dead_lettered"
    assert told["data"]["execution"] == execution and told["data"]["schedule"] == view["id"]
    assert told["data"]["error"] == "HTTP 500" and told["data"]["attempt"] == 2
    letters = stack.stack.api.get("/v1/dead-letters", headers=basic(stack.creds)).get_json()[
        "items"
    ]
    assert [letter["execution"] for letter in letters if letter["schedule"] == view["id"]] == [
        execution
    ]
    # The notice is an execution of its own, done once: no second notice can follow.
    state = wait_until(
        lambda: stack.store.execution_state(f"{execution}:on-failure-2"), what="done"
    )
    assert state == "done|1" and len(hits(stack.ok, "/failed")) == 1


def test_timeout_s_fails_an_attempt_to_a_slow_receiver_at_its_limit(stack: Policies) -> None:
    target = {"webhook": {"url": f"{stack.slow.url}/slow"}}
    view = stack.schedule(target, retry={"max_attempts": 1, "timeout_s": 1})
    [run] = wait_until(lambda: stack.runs(view["id"]), what="the attempt's record")
    assert run["status"] == "dead" and hits(stack.slow, "/slow")
    took_ms = parse(run["finished"]) - parse(run["started"])
    assert 900 <= took_ms < 2500, run  # cut at 1 s, not at the receiver's 3 s
    assert "1 s" in run["error"], run


def test_timeout_s_bounds_a_task_class_run(stack: Policies) -> None:
    target = {"task": {"class_name": SLOW_CLASS, "data": {"x": 1}}}
    view = stack.schedule(target, retry={"max_attempts": 1, "timeout_s": 1})
    [run] = wait_until(lambda: stack.runs(view["id"]), what="the task's record")
    assert run["status"] == "dead" and hits(stack.slow, "/task")
    took_ms = parse(run["finished"]) - parse(run["started"])
    assert took_ms < 2500, run  # the class's call cut at 1 s
    assert "1 s" in run["error"], run


def test_custom_headers_and_put_reach_the_receiver_signed(stack: Policies) -> None:
    headers = {"Authorization": "Bearer t0k3n", "X-Team": "ops"}
    target = {"webhook": {"url": f"{stack.ok.url}/put", "method": "PUT", "headers": headers,
                          "body": {"hello": "put"}}}  # fmt: skip
    stack.schedule(target)
    hit = wait_until(lambda: (hits(stack.ok, "/put") or [None])[0], what="the PUT")
    assert hit.method == "PUT" and hit.body == b'{"hello":"put"}'
    assert hit.headers["Authorization"] == "Bearer t0k3n" and hit.headers["X-Team"] == "ops"
    assert hit.headers["Content-Type"] == "application/json"
    Webhook(stack.creds["webhook_secret"]).verify(hit.body, hit.headers)


@pytest.mark.parametrize("name", ["webhook-signature", "Host", "Content-Length", "Connection"])
def test_a_forbidden_header_is_a_422_problem_naming_it(stack: Policies, name: str) -> None:
    target = {"webhook": {"url": f"{stack.ok.url}/never", "headers": {name: "x"}}}
    answer = stack.create(target)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert [e["field"] for e in problem["errors"]] == [f"target.webhook.headers.{name}"]
    assert name in problem["detail"]


def parse(text: str) -> int:
    return parse_iso8601(text, "time")

"""The poison-message rules without worker processes: the gate's checks, the delivery count in
``begin_execution`` (real Redis), and the runner recording what a pool can't run.
(tests/test_poison_e2e.py runs them with a real beat and real pools.)"""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import Config
from shared.errors import InvalidSchedule
from shared.execution import Execution, new_execution
from shared.model import OnceTrigger, Schedule, Target
from shared.store import Store
from workers.gate import identity, shape_problem
from workers.runner import Outcome, run_execution

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
RUN_AT = {"now_ms": 1_800_000_000_000, "lease_ms": 60_000}  # a worker's clock, attempt lease


def execution(**changes: Any) -> dict[str, Any]:
    schedule = Schedule(
        id="s1",
        account="acct",
        dialect="webhook_jobs",
        trigger=OnceTrigger(at_ms=1000),
        target=Target("webhook", {"url": "https://example.com/", "data": "x"}),
        created_ms=1,
    )
    return {**new_execution(schedule, "s1:1000", 1000, 1000).to_message(), **changes}


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        ([execution()], {}, None),
        ([], {}, "exactly one argument"),
        ([execution(), 1], {}, "exactly one argument"),
        ([execution()], {"x": 1}, "exactly one argument"),
        (["text"], {}, "not an object"),
        ([{k: v for k, v in execution().items() if k != "id"}], {}, "'id' missing"),
        ([execution(attempt="1")], {}, "'attempt' missing or not int"),
        ([execution(due_ms=True)], {}, "'due_ms' missing or not int"),
        ([execution(target={"kind": "nope", "spec": {}})], {}, "'target' is not a target"),
        ([execution(target={"kind": "webhook", "spec": []})], {}, "'target' is not a target"),
        ([execution(extra=deep(39))], {}, None),  # 40 levels with the execution itself
        ([execution(extra=deep(40))], {}, "nested more than 40 levels deep"),
        ([execution(extra=deep(5000))], {}, "nested more than 40 levels deep"),
    ],
)
def test_the_gate_names_what_is_wrong_with_a_message(args: Any, kwargs: Any, words: Any) -> None:
    problem = shape_problem("workers.webhooks.deliver", args, kwargs)
    assert (problem is None) if words is None else (words in (problem or "")), problem


def test_job_events_and_lease_checks_have_their_own_shapes() -> None:
    event = {"id": "e", "account": "a", "job": 1, "entries": []}
    assert shape_problem("workers.jobs.event", [event], {}) is None
    assert "'entries'" in (shape_problem("workers.jobs.event", [{**event, "entries": 1}], {}) or "")
    lease = {"id": "l", "account": "a", "job": 1, "beacon_name": "b", "kind": "run"}
    assert shape_problem("workers.jobs.expire_lease", [lease], {}) is None


def test_identity_keeps_ids_never_the_payload(store: Store) -> None:
    found = identity(
        "workers.webhooks.deliver", "s1:1000/2", execution(attempt=2), store.get_schedule
    )
    assert found == Execution(
        id="s1:1000",
        schedule="s1",
        account="acct",
        dialect="webhook_jobs",
        due_ms=1000,
        attempt=2,
        target=Target("webhook"),
    )
    # Nothing readable: the ids come from the task id (a retry's is "<execution>/<attempt>").
    bare = identity("workers.tasks.run", "s2:5/3", None, store.get_schedule)
    assert (bare.id, bare.schedule, bare.account, bare.target) == (
        "s2:5",
        "s2",
        "",
        Target("task"),
    )


def test_deliveries_of_one_attempt_are_counted_then_poison(store: Store) -> None:
    assert [store.begin_execution("e1", 1, 60, 3, **RUN_AT) for _ in range(4)] == [
        "run",
        "rerun",
        "rerun",
        "poison",
    ]
    lease_until = RUN_AT["now_ms"] + RUN_AT["lease_ms"]
    assert store.execution_state("e1") == f"running|1|3|{lease_until}|"
    # A new attempt starts its own count; finished ones are still skipped.
    assert store.begin_execution("e1", 2, 60, 3, **RUN_AT) == "run"
    assert store.execution_state("e1") == f"running|2|1|{lease_until}|"
    store.redis.set(store.keys.execution("e2"), "running|1")  # written before counting existed
    assert store.begin_execution("e2", 1, 60, 2, **RUN_AT) == "rerun"
    assert store.begin_execution("e2", 1, 60, 2, **RUN_AT) == "poison"


def settings(**more: Any) -> Config:
    return Config.from_env({}, max_attempts=2, max_deliveries=2, **more)


def test_a_message_that_kills_its_process_is_dead_lettered_after_max_deliveries(
    store: Store,
) -> None:
    config, e = settings(), execution()
    for _ in range(2):  # two deliveries that died
        store.begin_execution(e["id"], 1, 60, config.max_deliveries, **RUN_AT)
    ran: list[str] = []
    verdict = run_execution(
        store, config, Execution.from_message(e), lambda _: ran.append("x") or Outcome(ok=True)
    )
    assert (verdict.outcome, ran) == ("dead", [])
    letter = store.dead_letter(e["id"])
    assert letter and "delivered 2 times and never finished" in letter["error"]
    assert [r.status for r in store.history("s1")] == ["failed"]
    again = run_execution(store, config, Execution.from_message(e), lambda _: Outcome(ok=True))
    assert again.outcome == "done"  # already finished: not run again


def test_system_exit_in_delivery_is_a_failed_attempt_not_a_dead_process(store: Store) -> None:
    def exits(_: Execution) -> Outcome:
        raise SystemExit(3)

    ended = run_execution(store, settings(), Execution.from_message(execution()), exits)
    assert ended.outcome == "retry"
    run = store.history("s1")[0]
    assert (run.status, run.error) == ("retrying", "SystemExit: 3")


def test_a_rule_broken_by_a_stored_definition_is_not_retried(store: Store) -> None:
    def refuses(_: Execution) -> Outcome:
        raise InvalidSchedule("tasks: nested more than 32 levels deep")

    ended = run_execution(store, settings(), Execution.from_message(execution()), refuses)
    assert ended.outcome == "dead"
    assert store.history("s1")[0].status == "failed"


def test_an_unstorable_result_is_dropped_not_the_run(store: Store) -> None:
    def answers(_: Execution) -> Outcome:
        return Outcome(ok=True, result={"text": "a\ud800b", "when": object()})

    ended = run_execution(store, settings(), Execution.from_message(execution()), answers)
    assert ended.outcome == "done"
    run = store.history("s1")[0]
    assert run.status == "succeeded" and run.result is None
    assert "could not be stored" in (run.error or "")

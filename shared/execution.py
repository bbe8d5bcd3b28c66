"""One execution: a fire (or a run on demand) of one schedule, as the beat hands it to a pool.

``Execution`` is the typed contract between the beat (and ``shared.schedules.run_now``) and the
workers. On the wire it is the one argument of a Celery task (``to_message``/``from_message``);
the beat builds that body for every fire and publishes it through ``shared.messages``, and a pool
reads it back with ``from_message``, which also says what is wrong with a body that breaks the
contract (``workers.gate`` refuses such a message before any pool process sees it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.contract import QUEUE_BY_TARGET, TASK_BY_TARGET, TargetKind
from shared.model import Schedule, Target
from shared.policy import DEFAULT as DEFAULT_POLICY
from shared.policy import Policy

FAILURE_EVENT = "execution.dead_lettered"
NOTICES = ":on-failure"  # a schedule's failure notices are recorded under its id and this

# The fields a body must have, and their types (bool is no int here).
REQUIRED: dict[str, type] = {
    "id": str,
    "schedule": str,
    "account": str,
    "due_ms": int,
    "attempt": int,
    "target": dict,
}


class MalformedExecution(ValueError):
    """A message body that is not an execution; the message says what is wrong."""


@dataclass(frozen=True)
class Execution:
    """Everything a pool needs to deliver one attempt, without reading the store.

    ``id`` is ``<schedule id>:<due ms>`` for a fire (``execution_id``), ``<schedule>:run-<ms>``
    for a run on demand; ``context`` says who asked for a run on demand. An execution known only
    by its ids (a refused message, see ``workers.gate.identity``) has a target without a spec.
    ``policy`` is its schedule's (``shared.policy``): it travels in the message, so retries and
    redriven dead letters keep it.
    """

    id: str
    schedule: str
    account: str
    dialect: str
    due_ms: int
    target: Target
    attempt: int = 1
    claimed_ms: int | None = None
    late_ms: int = 0
    context: dict[str, Any] | None = None
    policy: Policy = DEFAULT_POLICY  # frozen: one instance for all

    @property
    def spec(self) -> dict[str, Any]:
        return self.target.spec

    def to_message(self) -> dict[str, Any]:
        """The task's argument: the beat's wire format (keys in this order, absent when None;
        a target without a spec is written without one, so redriving it is refused again)."""
        body: dict[str, Any] = {
            "id": self.id,
            "schedule": self.schedule,
            "account": self.account,
            "dialect": self.dialect,
            "due_ms": self.due_ms,
        }
        if self.claimed_ms is not None:
            body["claimed_ms"] = self.claimed_ms
        body["late_ms"] = self.late_ms
        body["attempt"] = self.attempt
        target: dict[str, Any] = {"kind": self.target.kind}
        if self.target.spec:
            target["spec"] = self.target.spec
        body["target"] = target
        if self.context:
            body["context"] = self.context
        policy = self.policy.to_dict()
        if policy:
            body["policy"] = policy
        return body

    @classmethod
    def from_message(cls, body: Any) -> Execution:
        """The execution a task's argument carries; ``MalformedExecution`` naming what is wrong.
        Optional fields of the wrong type read as absent (they only feed records and logs)."""
        problem = body_problem(body)
        if problem:
            raise MalformedExecution(problem)
        target = body["target"]
        return cls(
            id=body["id"],
            schedule=body["schedule"],
            account=body["account"],
            dialect=_optional(body, "dialect", str) or "",
            due_ms=body["due_ms"],
            target=Target(TargetKind(target["kind"]), target["spec"]),
            attempt=body["attempt"],
            claimed_ms=_optional(body, "claimed_ms", int),
            late_ms=_optional(body, "late_ms", int) or 0,
            context=_optional(body, "context", dict),
            policy=Policy.from_dict(body.get("policy")),
        )


def body_problem(body: Any) -> str | None:
    """Why ``body`` is not an execution's message body, or None."""
    if not isinstance(body, dict):
        return "its argument is not an object"
    for key, kind in REQUIRED.items():
        value = body.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{key!r} missing or not {kind.__name__}"
    target = body["target"]
    if target.get("kind") not in QUEUE_BY_TARGET or not isinstance(target.get("spec"), dict):
        return "'target' is not a target"
    return None


def _optional(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def execution_id(schedule_id: str, due_ms: int) -> str:
    """The deterministic id of one fire: also its Celery task id and its webhook-id."""
    return f"{schedule_id}:{due_ms}"


def new_execution(
    schedule: Schedule, exec_id: str, due_ms: int, claimed_ms: int, late_ms: int = 0
) -> Execution:
    """The first attempt of a fire of ``schedule``. Built by the beat for each fire, and by
    ``shared.schedules.run_now`` for a run on demand."""
    return Execution(
        id=exec_id,
        schedule=schedule.id,
        account=schedule.account,
        dialect=schedule.dialect,
        due_ms=due_ms,
        target=schedule.target,
        claimed_ms=claimed_ms,
        late_ms=late_ms,
        policy=schedule.policy,
    )


def retry_payload(body: dict[str, Any], attempt: int) -> dict[str, Any]:
    """What the beat needs to publish attempt ``attempt`` of the execution whose message body is
    ``body`` when it is due (a retry, or a dead letter redriven)."""
    kind = body["target"]["kind"]
    return {
        "task": TASK_BY_TARGET[kind],
        "queue": QUEUE_BY_TARGET[kind],
        "execution": {**body, "attempt": attempt},
    }


def failure_notice(dead_letter: dict[str, Any], url: str) -> Execution:
    """The execution that tells ``url`` (a schedule's ``on_failure``) about ``dead_letter``
    (``{"execution": message, "error", "died_ms"}``): a webhook of the dead execution's account
    (signed with its secret), id ``<dead execution's id>:on-failure-<attempt that died>`` (a
    redriven execution that dies again tells again), with no policy of its own, so a notice that
    dies calls nobody. Its body::

        {"type": "execution.dead_lettered", "timestamp": <died, ms>,
         "data": {"execution", "schedule", "attempt", "due_ms", "died_ms", "error", "target"}}

    ``target`` is the dead execution's target kind: nothing of its spec (a webhook's headers may
    hold credentials) goes to another URL. The notice's own attempts are recorded under the
    schedule ``<schedule>:on-failure``, apart from the schedule's runs (its fires' attempts),
    and a notice never counts as the schedule's execution (overlap).
    """
    dead = dead_letter["execution"]
    data = {
        "execution": dead["id"],
        "schedule": dead["schedule"],
        "attempt": dead.get("attempt"),
        "due_ms": dead.get("due_ms"),
        "died_ms": dead_letter["died_ms"],
        "error": dead_letter.get("error"),
        "target": dead.get("target", {}).get("kind"),
    }
    body = {"type": FAILURE_EVENT, "timestamp": dead_letter["died_ms"], "data": data}
    spec = {
        "url": url,
        "data": json.dumps(body, separators=(",", ":")),
        "content_type": "application/json",
    }
    return Execution(
        id=f"{dead['id']}:on-failure-{dead.get('attempt')}",
        schedule=dead["schedule"] + NOTICES,
        account=dead["account"],
        dialect=dead.get("dialect", ""),
        due_ms=dead_letter["died_ms"],
        target=Target(TargetKind.WEBHOOK, spec),
        claimed_ms=dead_letter["died_ms"],
        context={"on_failure_of": dead["id"]},
    )

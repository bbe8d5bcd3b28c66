"""The SDK end to end: the API served on 127.0.0.1, a real beat and webhooks worker (one attempt
per execution) and a receiver that fails twice then succeeds: runs read page by page, dead letters
listed, redriven and dropped through the client; each callback checked with verify_webhook."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scheduler_sdk import Client, verify_webhook
from scheduler_sdk.types import DeadLetter, Run
from tests.sdk_support import served_api
from tests.support import HttpReceiver, ProcessGroup, wait_until

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    client: Client
    receiver: HttpReceiver
    webhook_secret: str


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("sdk-e2e")
    group = ProcessGroup(redis_url, workdir)
    try:
        for api in served_api(redis_url, workdir):
            with HttpReceiver(statuses=[500, 500, 200]) as receiver:
                group.worker("webhooks", max_attempts=1)
                group.beat()  # a redriven execution is a retry due now: the beat claims it
                wait_until(api.store.last_beat_ms, what="beat running")
                creds = api.account()
                with api.client(creds) as client:
                    yield Stack(client, receiver, creds["webhook_secret"])
    finally:
        group.stop_all()


def runs(client: Client, schedule_id: str, count: int) -> list[Run]:
    def enough() -> list[Run] | None:
        found = list(client.schedules.runs(schedule_id, page_size=1))
        return found if len(found) >= count else None

    return wait_until(enough, timeout_s=30, what=f"{count} run records")


def dead_letters(client: Client, count: int) -> list[DeadLetter]:
    def enough() -> list[DeadLetter] | None:
        found = list(client.dead_letters.list(page_size=1))
        return found if len(found) >= count else None

    return wait_until(enough, timeout_s=30, what=f"{count} dead letters")


def test_runs_and_dead_letters_through_the_client(stack: Stack) -> None:
    client = stack.client
    target = {"webhook": {"url": stack.receiver.url + "/hook", "body": {"n": 1}}}
    made = client.schedules.create(
        {"name": "failing", "trigger": {"cron": "0 3 * * *"}, "target": target, "paused": True}
    )
    first = client.schedules.trigger(made["id"])["execution"]
    dead_letters(client, 1)
    second = client.schedules.trigger(made["id"])["execution"]
    letters = dead_letters(client, 2)
    assert [letter["execution"] for letter in letters] == [second, first]  # newest first
    assert all(letter["schedule"] == made["id"] for letter in letters)
    assert [run["status"] for run in runs(client, made["id"], 2)] == ["dead", "dead"]

    assert client.dead_letters.redrive(first)["execution"] == first
    done = runs(client, made["id"], 3)
    assert done[0]["execution"] == first and done[0]["status"] == "succeeded"
    client.dead_letters.delete(second)
    assert list(client.dead_letters.list()) == []
    assert stack.receiver.count() == 3
    # Each callback verifies with the receivers' helper; its id is the execution's.
    ids = [
        verify_webhook(stack.webhook_secret, hit.body, hit.headers)
        for hit in stack.receiver.requests
    ]
    assert ids == [first, second, first]

"""An operator's session end to end: the CLI makes, triggers and reads schedules and redrives a
dead letter while a real beat and webhooks worker deliver to a receiver on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from shared.store import Store
from tests.cli_support import (
    Cli,
    cli_fixture,  # noqa: F401 (the fixture `cli`)
)
from tests.support import HttpReceiver, ProcessGroup, wait_until


def runs_of(cli: Cli, schedule_id: str) -> list[dict[str, Any]]:
    return list(cli("schedules", "runs", schedule_id, "--json").json())


def test_what_the_cli_makes_is_delivered_and_what_dies_is_redriven(
    cli: Cli, store: Store, processes: ProcessGroup
) -> None:
    # One attempt only: the receiver's 500 dead-letters the execution at once.
    processes.beat()
    processes.worker("webhooks", max_attempts=1)
    wait_until(store.last_beat_ms, what="beat running")
    with HttpReceiver(statuses=[200, 500, 200]) as receiver:
        cli("accounts", "create", "acme", "--json").json()
        add = ("schedules", "add-webhook", "--account", "acme", "--url", receiver.url + "/cb")
        once = cli(*add, "--in", "0.5", "--json").json()
        wait_until(lambda: receiver.count() == 1, what="the one-shot's callback")
        ran = wait_until(lambda: runs_of(cli, once["id"]), what="its run record")
        assert [run["status"] for run in ran] == ["succeeded"]

        nightly = cli(*add, "--cron", "0 3 * * *", "--json").json()
        execution = cli("schedules", "trigger", nightly["id"], "--json").json()["execution"]
        wait_until(lambda: receiver.count() == 2, what="the triggered run's callback")
        dead = wait_until(
            lambda: cli("dead-letters", "list", "--account", "acme", "--json").json(),
            what="the dead letter of the 500",
        )
        assert [letter["execution"]["id"] for letter in dead] == [execution]
        assert "500" in cli("dead-letters", "list").out

        cli("dead-letters", "redrive", execution)
        wait_until(lambda: receiver.count() == 3, what="the redriven attempt")
        wait_until(
            lambda: (
                {"id": execution, "status": "succeeded"}
                in [{"id": r["id"], "status": r["status"]} for r in runs_of(cli, nightly["id"])]
            ),
            what="the redriven attempt's run record",
        )
        assert cli("dead-letters", "list", "--json").json() == []
        headers = {name.lower(): value for name, value in receiver.requests[2].headers.items()}
        assert headers["webhook-id"] == execution

"""The ``scheduler`` operator commands run in this process (``scheduler_cli.main.main``), against
the real Redis of the fixtures, in a known local time zone; and the data they show, made through
the core as the APIs and the workers make it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scheduler_cli.main import main
from shared import schedules
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.contract import RunStatus
from shared.execution import new_execution
from shared.model import CronTrigger, RunRecord, Schedule, Target
from shared.store import Store
from shared.timing import now_ms

ZONE = "Asia/Tokyo"  # the operator's zone in these tests: UTC+9 all year, no DST
ZONE_ABBREVIATION = "JST"
HOOK = "http://127.0.0.1:9/hook"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)

    @property
    def lines(self) -> list[str]:
        assert self.code == 0, self.err
        return self.out.splitlines()


class Cli:
    """``cli("schedules", "list")``: runs the command, returns its exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> Ran:
        self.capsys.readouterr()  # what came before is not this command's
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return Ran(code, out, err)


@pytest.fixture(name="cli")
def cli_fixture(
    clean_redis: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> Iterator[Cli]:
    """The CLI on the fixtures' Redis, its data dir ``tmp_path``, callbacks to 127.0.0.1
    allowed, and the local time zone ``ZONE``."""
    for name in list(os.environ):
        if name.startswith("SCHEDULER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", clean_redis)
    monkeypatch.setenv("SCHEDULER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCHEDULER_TARGET_ALLOWLIST", "127.0.0.0/8")
    monkeypatch.setenv("TZ", ZONE)
    time.tzset()
    try:
        yield Cli(capsys)
    finally:
        monkeypatch.undo()
        time.tzset()


def cli_config(clean_redis: str, tmp_path: Path) -> Config:
    """The configuration the ``cli`` fixture's commands read."""
    return Config.from_env(
        {}, redis_url=clean_redis, data_dir=str(tmp_path), target_allowlist=("127.0.0.0/8",)
    )


@pytest.fixture(name="setup")
def setup_fixture(clean_redis: str, tmp_path: Path) -> tuple[Config, Store]:
    """That configuration, and a store on the same Redis, for a test to prepare what it runs."""
    config = cli_config(clean_redis, tmp_path)
    return config, Store.from_url(clean_redis, config.key_prefix)


def account(store: Store, config: Config, name: str, zone: str = "UTC") -> dict[str, str]:
    return create_account(store, name, zone, secret_key=load_secret_key(config), now_ms=now_ms())


def cron_schedule(
    store: Store, config: Config, appkey: str, dialect: str, **fields: Any
) -> Schedule:
    """A webhook schedule firing daily at 09:00 Tokyo time, stored as ``dialect``'s API does."""
    schedule = Schedule(
        id=fields.pop("id", f"{dialect}-{now_ms()}-{os.urandom(3).hex()}"),
        account=appkey,
        dialect=dialect,
        trigger=CronTrigger("0 9 * * *", ZONE),
        target=Target("webhook", {"url": HOOK, "data": "{}"}),  # type: ignore[arg-type]
        created_ms=fields.pop("created_ms", now_ms()),
        **fields,
    )
    schedules.create(store, config, schedule, now_ms=schedule.created_ms)
    return schedule


def finish(
    store: Store, schedule: Schedule, due_ms: int, status: RunStatus, error: str = ""
) -> str:
    """Record an attempt of the fire of ``schedule`` due at ``due_ms`` as a worker does (one
    that failed for good becomes a dead letter); returns the execution id."""
    exec_id = f"{schedule.id}:{due_ms}"
    execution = new_execution(schedule, exec_id, due_ms, due_ms + 5)
    record = RunRecord(
        id=exec_id,
        schedule=schedule.id,
        due_ms=due_ms,
        claimed_ms=due_ms + 5,
        started_ms=due_ms + 40,  # 40 ms late
        finished_ms=due_ms + 1240,  # took 1.2 s
        status=status,
        attempt=1,
        error=error or None,
    )
    outcome = "dead" if status == RunStatus.DEAD else "done"
    payload = {"execution": execution.to_message(), "error": error, "died_ms": due_ms + 1240}
    store.finish_execution(
        record,
        outcome,
        account=schedule.account,
        now_ms=due_ms + 1240,
        history_cap=50,
        retention_s=3600,
        payload=payload if outcome == "dead" else None,
    )
    return exec_id

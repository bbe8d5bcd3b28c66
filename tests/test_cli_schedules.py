"""``scheduler schedules ...``: every schedule of an account whatever API made it, each verb in
both output modes (a table in local time, ``--json`` in UTC), through the core on real Redis."""

from __future__ import annotations

from shared.config import Config
from shared.contract import DIALECTS, RunStatus
from shared.model import Schedule
from shared.policy import Policy, RetryPolicy
from shared.store import Commit, Store
from shared.timing import now_ms
from tests.cli_support import (
    HOOK,
    ZONE_ABBREVIATION,
    Cli,
    account,
    cli_fixture,  # noqa: F401 (the fixture `cli`)
    cron_schedule,
    finish,
    setup_fixture,  # noqa: F401 (the fixture `setup`)
)
from tests.support import queued_task_ids


def test_list_shows_the_schedules_of_every_api_in_both_modes(
    cli: Cli, setup: tuple[Config, Store]
) -> None:
    config, store = setup
    acme, other = account(store, config, "acme"), account(store, config, "other")
    start = now_ms()  # made one after the other: listed oldest first
    made = [
        cron_schedule(store, config, acme["appkey"], dialect, created_ms=start + n)
        for n, dialect in enumerate(DIALECTS)
    ]
    named = cron_schedule(
        store, config, acme["appkey"], "cli", doc={"name": "nightly"}, created_ms=start + 99
    )
    theirs = cron_schedule(store, config, other["appkey"], "cli")

    listed = cli("schedules", "list", "--account", "acme", "--json").json()
    assert [row["schedule"]["id"] for row in listed] == [s.id for s in [*made, named]]
    assert {row["schedule"]["dialect"] for row in listed} == set(DIALECTS)
    assert all(row["state"] == "active" and row["next"].endswith("T00:00:00Z") for row in listed)
    assert listed[-1]["name"] == "nightly"

    table = cli("schedules", "list", "--account", acme["appkey"]).lines
    assert table[0].split() == ["ID", "API", "NAME", "STATE", "TRIGGER", "TARGET", "NEXT", "FIRE"]
    rows = {line.split()[0]: line for line in table[2:]}
    assert set(rows) == {s.id for s in [*made, named]}
    assert f"09:00:00 {ZONE_ABBREVIATION}" in rows[named.id] and "nightly" in rows[named.id]
    assert f"webhook {HOOK}" in rows[named.id] and "cron 0 9 * * *" in rows[named.id]

    everyone = cli("schedules", "list").lines  # no --account: every account's, named
    assert everyone[0].split()[0] == "ACCOUNT"
    assert any(line.startswith("other") and theirs.id in line for line in everyone)
    assert len(cli("schedules", "list", "--json").json()) == len(made) + 2

    cli("schedules", "pause", named.id)
    paused = cli("schedules", "list", "--state", "paused", "--json").json()
    assert [row["schedule"]["id"] for row in paused] == [named.id]
    by_api = cli("schedules", "list", "--api", "task_scheduler", "--json").json()
    assert [row["schedule"]["dialect"] for row in by_api] == ["task_scheduler"]
    assert cli("schedules", "list", "--api", "nope").code == 2  # argparse names the choices


def test_an_empty_list_says_how_to_make_one(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    account(store, config, "acme")
    assert "no schedules" in cli("schedules", "list", "--account", "acme").out
    assert cli("schedules", "list", "--account", "acme", "--json").json() == []
    unknown = cli("schedules", "list", "--account", "nobody")
    assert unknown.code == 1 and "no account 'nobody'" in unknown.err


def test_add_webhook_then_show_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    acme = account(store, config, "acme", "Europe/Paris")
    added = cli(
        "schedules", "add-webhook", "--account", "acme", "--url", HOOK, "--cron", "0 9 * * 1",
        "--name", "weekly", "--json",
    ).json()  # fmt: skip
    assert added["next"].endswith(":00:00Z")  # 09:00 Paris is 08:00 or 07:00 UTC
    assert store.next_fire_ms(added["id"]) is not None
    human = cli("schedules", "add-webhook", "--account", "acme", "--url", HOOK, "--in", "60")
    assert human.code == 0 and human.out.startswith("Schedule ") and ZONE_ABBREVIATION in human.out

    shown = cli("schedules", "show", added["id"], "--json").json()
    trigger = {"kind": "cron", "expr": "0 9 * * 1", "timezone": "Europe/Paris"}
    assert shown["schedule"]["trigger"] == trigger and shown["schedule"]["dialect"] == "cli"
    assert shown["next"] == added["next"] and shown["runs"] == [] and shown["fired"] == 0
    fields = dict(line.split(None, 1) for line in cli("schedules", "show", added["id"]).lines[:9])
    assert fields["name"] == "weekly" and fields["state"] == "active"
    assert fields["account"] == f"acme ({acme['appkey']})"

    long_name, long_url = "the weekly report for the whole team", HOOK + "/" + "x" * 60
    made = cli(*add_args(long_url), "--in", "60", "--name", long_name, "--json").json()
    shown_in_full = cli("schedules", "show", made["id"]).out
    assert long_name in shown_in_full and long_url in shown_in_full
    listed = cli("schedules", "list", "--account", "acme").out  # cut to a column's width
    assert long_name[:27] + "..." in listed and long_url not in listed

    other = account(store, config, "other")
    mismatch = cli("schedules", "show", added["id"], "--account", other["appkey"])
    assert mismatch.code == 1 and "no schedule" in mismatch.err and "Traceback" not in mismatch.err


def test_show_says_the_policies_a_schedule_asks_beyond_the_defaults(
    cli: Cli, setup: tuple[Config, Store]
) -> None:
    config, store = setup
    acme = account(store, config, "acme")
    asks = Policy(RetryPolicy(max_attempts=2, initial_s=3, timeout_s=5), on_failure=HOOK + "/dead")
    governed = cron_schedule(store, config, acme["appkey"], "native", overlap="skip", policy=asks)
    plain = cron_schedule(store, config, acme["appkey"], "native")

    fields = dict(line.split(None, 1) for line in cli("schedules", "show", governed.id).lines[:11])
    assert fields["policies"] == (
        "overlap skip, 2 attempt(s), retry after 3 s, at most default apart, 5 s per attempt, "
        f"on failure {HOOK}/dead"
    )
    shown = dict(line.split(None, 1) for line in cli("schedules", "show", plain.id).lines[:11])
    assert shown["policies"] == "defaults"
    stored = cli("schedules", "show", governed.id, "--json").json()["schedule"]
    assert stored["overlap"] == "skip" and stored["policy"]["retry"]["max_attempts"] == 2


def add_args(url: str) -> tuple[str, ...]:
    return ("schedules", "add-webhook", "--account", "acme", "--url", url)


def test_bad_input_is_one_line_naming_what_is_wrong(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    account(store, config, "acme")
    add = ("schedules", "add-webhook", "--account", "acme")
    internal = cli(*add, "--url", "http://169.254.169.254/", "--in", "5")
    assert internal.code == 1 and "link-local" in internal.err
    bad_cron = cli(*add, "--url", HOOK, "--cron", "61 * * * *")
    assert bad_cron.code == 1 and "minute" in bad_cron.err
    assert cli("schedules", "show", "nope").code == 1
    assert "Traceback" not in internal.err + bad_cron.err
    for never in ("nan", "inf", "1e30", "-5", "soon"):  # floats, some, but no instant
        refused = cli(*add, "--url", HOOK, "--in", never)
        assert refused.code == 2 and "number of seconds from 0 to 100 years" in refused.err
    assert cli("schedules", "list", "--json").json() == []  # nothing was stored


def test_pause_and_resume_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    appkey = account(store, config, "acme")["appkey"]
    schedule = cron_schedule(store, config, appkey, "webhook_jobs")

    paused = cli("schedules", "pause", schedule.id, "--json").json()
    assert paused == {"id": schedule.id, "state": "paused", "next": None}
    assert store.next_fire_ms(schedule.id) is None
    assert "paused" in cli("schedules", "list", "--account", "acme").out

    resumed = cli("schedules", "resume", schedule.id, "--account", "acme", "--json").json()
    assert resumed["state"] == "active" and resumed["next"].endswith("T00:00:00Z")
    assert store.next_fire_ms(schedule.id) is not None

    said = cli("schedules", "pause", schedule.id).out
    assert said.startswith(f"Schedule {schedule.id} paused: next fire none")
    said = cli("schedules", "resume", schedule.id).out
    assert said.startswith(f"Schedule {schedule.id} resumed: next fire ")
    assert f"09:00:00 {ZONE_ABBREVIATION}" in said


def test_preview_lists_the_next_fires_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    appkey = account(store, config, "acme")["appkey"]
    schedule = cron_schedule(store, config, appkey, "task_scheduler")

    fires = cli("schedules", "preview", schedule.id, "--count", "3", "--json").json()["fires"]
    assert len(fires) == 3 and all(fire.endswith("T00:00:00Z") for fire in fires)
    assert fires[0] == cli("schedules", "show", schedule.id, "--json").json()["next"]
    table = cli("schedules", "preview", schedule.id, "--count", "3").lines
    assert table[0].split() == ["FIRES", "AT", "IN"] and len(table) == 2 + 3
    assert all(f"09:00:00 {ZONE_ABBREVIATION}" in row for row in table[2:])
    assert cli("schedules", "preview", schedule.id, "--count", "0").code == 2  # argparse's


def test_trigger_queues_one_run_now_in_both_modes(
    cli: Cli, setup: tuple[Config, Store], clean_redis: str
) -> None:
    config, store = setup
    appkey = account(store, config, "acme")["appkey"]
    schedule = cron_schedule(store, config, appkey, "push_schedules")

    ran = cli("schedules", "trigger", schedule.id, "--json").json()
    assert ran["execution"].startswith(f"{schedule.id}:run-") and ran["queue"] == "webhooks"
    said = cli("schedules", "trigger", schedule.id).out
    assert said.startswith(f"Schedule {schedule.id} runs now: execution {schedule.id}:run-")
    queued = queued_task_ids(clean_redis, "webhooks")
    assert ran["execution"] in queued and len(queued) == 2


def test_runs_in_both_modes_outlive_the_schedule(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    appkey = account(store, config, "acme")["appkey"]
    schedule = cron_schedule(store, config, appkey, "cli")
    due = now_ms() - 60_000
    done = finish(store, schedule, due, RunStatus.SUCCEEDED)
    failed = finish(store, schedule, due + 1000, RunStatus.DEAD, "HTTP 500 from 127.0.0.1")

    runs = cli("schedules", "runs", schedule.id, "--json").json()
    assert [(r["id"], r["status"]) for r in runs] == [(failed, "dead"), (done, "succeeded")]
    table = cli("schedules", "runs", schedule.id).lines
    assert table[0].split() == ["EXECUTION", "ATTEMPT", "STATUS", "DUE", "LAG", "TOOK", "ERROR"]
    assert failed in table[2] and "HTTP 500 from 127.0.0.1" in table[2]
    assert "40 ms" in table[3] and "1.2 s" in table[3] and ZONE_ABBREVIATION in table[3]
    shown = cli("schedules", "show", schedule.id).out
    assert failed in shown and done in shown
    latest = cli("schedules", "runs", schedule.id, "--limit", "1", "--json").json()
    assert [run["id"] for run in latest] == [failed]

    retire(store, schedule)  # its last fire: the definition goes, its history stays
    assert store.get_schedule(schedule.id) is None
    assert [r["id"] for r in cli("schedules", "runs", schedule.id, "--json").json()] == [
        failed,
        done,
    ]
    after = cli("schedules", "show", schedule.id, "--json").json()
    assert after["state"] == "done" and len(after["runs"]) == 2
    assert schedule.id not in cli("schedules", "list").out  # listed no more


def retire(store: Store, schedule: Schedule) -> None:
    """What the beat does with a schedule's last fire when the schedule is purged once done
    (as the webhook jobs API's are): it keeps the definition as long as the history."""
    due_ms = store.next_fire_ms(schedule.id)
    assert due_ms is not None
    claimed = store.claim(due_ms, lease_ms=10_000, limit=10, token="beat")
    assert [entry.member for entry in claimed.entries] == [schedule.id]
    last = Commit(
        schedule.id, None, None, purge_from=(schedule.account, schedule.dialect), retain_s=3600
    )
    assert store.commit("beat", [last], now_ms=due_ms, republish_after_ms=10_000) == [1]


def test_delete_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    appkey = account(store, config, "acme")["appkey"]
    first, second = (cron_schedule(store, config, appkey, "beacon_jobs") for _ in range(2))

    deleted = cli("schedules", "delete", first.id, "--json").json()
    assert deleted == {"id": first.id, "deleted": True}
    said = cli("schedules", "delete", second.id, "--account", "acme").out
    assert said.startswith(f"Schedule {second.id} deleted")
    assert store.get_schedule(first.id) is None and store.get_schedule(second.id) is None
    assert cli("schedules", "list", "--json").json() == []
    again = cli("schedules", "delete", first.id)
    assert again.code == 1 and f"no schedule {first.id!r}" in again.err

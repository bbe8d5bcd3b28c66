"""``scheduler accounts``, ``api-keys`` and ``dead-letters``: each verb in both output modes (a
table in local time, ``--json``), through the core on real Redis; secrets printed once work."""

from __future__ import annotations

import pytest
import redis

from shared import accounts, api_keys, push
from shared.backup import take_snapshot, write_backup
from shared.config import Config
from shared.contract import RunStatus
from shared.store import Store
from shared.timing import format_iso_utc, now_ms
from tests.cli_support import (
    ZONE_ABBREVIATION,
    Cli,
    account,
    cli_fixture,  # noqa: F401 (the fixture `cli`)
    cron_schedule,
    finish,
    setup_fixture,  # noqa: F401 (the fixture `setup`)
)

# --- accounts --------------------------------------------------------------------------------


def test_accounts_list_in_both_modes_shows_no_secret(cli: Cli, setup: tuple[Config, Store]) -> None:
    assert "no accounts yet" in cli("accounts", "list").out
    created = cli("accounts", "create", "acme", "--timezone", "Asia/Tokyo", "--json").json()
    listed = cli("accounts", "list", "--json").json()
    assert [(a["appkey"], a["name"], a["timezone"]) for a in listed] == [
        (created["appkey"], "acme", "Asia/Tokyo")
    ]
    table = cli("accounts", "list").lines
    assert table[0].split() == ["APPKEY", "NAME", "TIME", "ZONE", "CREATED"]
    assert table[2].split()[:3] == [created["appkey"], "acme", "Asia/Tokyo"]
    assert table[2].endswith(ZONE_ABBREVIATION)
    for secret in ("master_secret", "userkey", "webhook_secret"):
        assert created[secret] not in str(listed) + "\n".join(table)


def test_rotate_secret_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    acme = account(store, config, "acme")
    key = accounts.load_secret_key(config)

    rotated = cli("accounts", "rotate-secret", "acme", "--json").json()
    assert rotated["generation"] == 2
    assert rotated["webhook_secret"] == accounts.webhook_secret(key, acme["appkey"], 2)
    assert rotated["previous_secret_signs_until"].endswith("Z")
    said = cli("accounts", "rotate-secret", acme["appkey"]).out
    assert "Shown once" in said and accounts.webhook_secret(key, acme["appkey"], 3) in said
    assert ZONE_ABBREVIATION in said  # until when the old one signs, in local time
    stored = store.get_account(acme["appkey"]) or {}
    assert accounts.active_webhook_secrets(stored, key, now_ms()) == [
        accounts.webhook_secret(key, acme["appkey"], 3),
        accounts.webhook_secret(key, acme["appkey"], 2),
    ]


def test_reset_master_secret_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    acme = account(store, config, "acme")

    reset = cli("accounts", "reset-master-secret", "acme", "--json").json()
    assert reset["appkey"] == acme["appkey"]
    assert accounts.authenticate_basic(store, acme["appkey"], reset["master_secret"])
    assert not accounts.authenticate_basic(store, acme["appkey"], acme["master_secret"])

    said = cli("accounts", "reset-master-secret", acme["appkey"]).lines
    again = dict(line.split() for line in said[1:])
    assert again["appkey"] == acme["appkey"]
    assert accounts.authenticate_basic(store, acme["appkey"], again["master_secret"])
    assert not accounts.authenticate_basic(store, acme["appkey"], reset["master_secret"])
    assert accounts.authenticate_userkey(store, acme["userkey"])  # the bearer key is untouched

    unknown = cli("accounts", "reset-master-secret", "nobody")
    assert unknown.code == 1 and "no account 'nobody'" in unknown.err


# --- api keys --------------------------------------------------------------------------------


def test_api_keys_create_list_delete_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    account(store, config, "acme")
    assert "no API keys" in cli("api-keys", "list", "acme").out

    made = cli("api-keys", "create", "acme", "ci", "--scope", "schedules:read", "--json").json()
    found = api_keys.authenticate_api_key(store, made["key"])
    assert found is not None and found[1] == {"schedules:read"}
    said = cli("api-keys", "create", "acme", "deploy").lines  # every scope by default
    shown = dict(line.split(None, 1) for line in said[1:])
    found = api_keys.authenticate_api_key(store, shown["key"])
    assert found is not None and found[1] == set(api_keys.SCOPES)

    listed = cli("api-keys", "list", "acme", "--json").json()
    assert [(k["id"], k["name"]) for k in listed] == [(made["id"], "ci"), (shown["id"], "deploy")]
    assert "key" not in listed[0] and "sha256" not in listed[0]
    table = cli("api-keys", "list", "acme").lines
    assert table[0].split() == ["ID", "NAME", "PREFIX", "SCOPES", "CREATED"]
    assert table[2].split()[:4] == [made["id"], "ci", made["key"][:7], "schedules:read"]

    gone = cli("api-keys", "delete", "acme", made["id"], "--json").json()
    assert gone == {"id": made["id"], "deleted": True}
    assert api_keys.authenticate_api_key(store, made["key"]) is None
    said_gone = cli("api-keys", "delete", "acme", shown["id"]).out
    assert said_gone.startswith(f"API key {shown['id']} deleted")
    assert cli("api-keys", "list", "acme", "--json").json() == []
    again = cli("api-keys", "delete", "acme", made["id"])
    assert again.code == 1 and "no api key" in again.err


def test_api_keys_refuse_an_unknown_scope(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    account(store, config, "acme")
    refused = cli("api-keys", "create", "acme", "ci", "--scope", "everything")
    assert refused.code == 2 and "invalid choice" in refused.err  # argparse lists the scopes


# --- dead letters ----------------------------------------------------------------------------


def two_dead_letters(config: Config, store: Store) -> tuple[str, str]:
    """One dead letter of account acme's, one of account other's (made by another API)."""
    acme, other = account(store, config, "acme"), account(store, config, "other")
    mine = cron_schedule(store, config, acme["appkey"], "cli")
    theirs = cron_schedule(store, config, other["appkey"], "webhook_jobs")
    due = now_ms() - 60_000
    return (
        finish(store, mine, due, RunStatus.DEAD, "HTTP 500 from 127.0.0.1"),
        finish(store, theirs, due + 1000, RunStatus.DEAD, "timed out"),
    )


def test_dead_letters_list_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    assert "no dead letters" in cli("dead-letters", "list").out
    mine, theirs = two_dead_letters(*setup)

    everyone = cli("dead-letters", "list", "--json").json()
    assert [letter["execution"]["id"] for letter in everyone] == [theirs, mine]  # newest first
    assert everyone[1]["error"] == "HTTP 500 from 127.0.0.1" and everyone[1]["died"].endswith("Z")
    only_acme = cli("dead-letters", "list", "--account", "acme", "--json").json()
    assert [letter["execution"]["id"] for letter in only_acme] == [mine]
    assert len(cli("dead-letters", "list", "--limit", "1", "--json").json()) == 1

    table = cli("dead-letters", "list").lines
    assert table[0].split() == ["EXECUTION", "ACCOUNT", "ATTEMPTS", "DIED", "ERROR"]
    assert table[2].split()[:3] == [theirs, "other", "1"] and "timed out" in table[2]
    assert table[3].split()[:3] == [mine, "acme", "1"] and ZONE_ABBREVIATION in table[3]
    assert len(cli("dead-letters", "list", "--account", "other").lines) == 3


def test_dead_letters_redrive_and_delete_in_both_modes(
    cli: Cli, setup: tuple[Config, Store]
) -> None:
    config, store = setup
    mine, theirs = two_dead_letters(config, store)

    assert cli("dead-letters", "redrive", mine, "--json").json() == {
        "execution": mine,
        "redriven": True,
    }
    assert store.dead_letter(mine) is None and store.redis.zscore(store.keys.retries(), mine)
    assert cli("dead-letters", "delete", theirs).out.startswith(f"Dead letter {theirs} deleted")
    assert store.dead_letter(theirs) is None and cli("dead-letters", "list", "--json").json() == []

    for verb in ("redrive", "delete"):
        for mode in ((), ("--json",)):
            gone = cli("dead-letters", verb, theirs, *mode)
            assert gone.code == 1 and f"no dead letter {theirs!r}" in gone.err


def test_dead_letters_redrive_and_delete_say_so_in_words(
    cli: Cli, setup: tuple[Config, Store]
) -> None:
    mine, theirs = two_dead_letters(*setup)
    assert cli("dead-letters", "redrive", mine).out.startswith(f"Dead letter {mine} sent back")
    deleted = cli("dead-letters", "delete", theirs, "--json").json()
    assert deleted == {"execution": theirs, "deleted": True}


# --- restore and push credentials ------------------------------------------------------------


def test_restore_in_both_modes(cli: Cli, setup: tuple[Config, Store], clean_redis: str) -> None:
    config, store = setup
    appkey = account(store, config, "acme")["appkey"]
    task = cron_schedule(store, config, appkey, "task_scheduler", doc={"name": "Nightly"})
    next_ms = store.next_fire_ms(task.id)
    path, _ = write_backup(config, take_snapshot(store, appkey, now_ms()))

    redis.Redis.from_url(clean_redis).flushdb()
    restored = cli("restore", str(path), "--json").json()
    assert restored["appkey"] == appkey and restored["name"] == "acme"
    [schedule] = restored["schedules"]
    assert schedule == {
        "id": task.id,
        "dialect": "task_scheduler",
        "name": "Nightly",
        "next": format_iso_utc(next_ms or 0),
    }
    redis.Redis.from_url(clean_redis).flushdb()
    said = cli("restore", str(path)).lines
    assert said[0] == f"Restored 1 schedules of account 'acme' ({appkey})"
    assert task.id in said[1] and f"09:00:00 {ZONE_ABBREVIATION}" in said[1]
    assert store.get_schedule(task.id) == task


def test_push_credentials_in_both_modes(cli: Cli, setup: tuple[Config, Store]) -> None:
    config, store = setup
    appkey = account(store, config, "acme")["appkey"]
    key = accounts.load_secret_key(config)
    stored = cli("push-credentials", appkey, "--key", "gw", "--secret", "s1", "--json").json()
    assert stored == {"appkey": appkey, "stored": True}
    assert push.credentials(store, key, appkey) == ("gw", "s1")
    said = cli("push-credentials", appkey, "--key", "gw2", "--secret", "s2").out
    assert said.startswith(f"Push gateway credentials of {appkey} stored")
    assert push.credentials(store, key, appkey) == ("gw2", "s2")


def test_every_command_refuses_another_partition_count(
    cli: Cli, setup: tuple[Config, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data stored in one partition, read with SCHEDULER_PARTITIONS=4, would be looked for in
    the wrong partitions: one line and exit 2, as the beat, workers and the API refuse."""
    _, store = setup
    store.check_partitions()  # the count recorded, as at a first start
    monkeypatch.setenv("SCHEDULER_PARTITIONS", "4")
    for command in (["schedules", "list"], ["accounts", "list"], ["dead-letters", "list"]):
        ran = cli(*command)
        assert ran.code == 2, command
        assert "SCHEDULER_PARTITIONS=4, but this Redis holds data in 1 partition(s)" in ran.err
        assert "Traceback" not in ran.err
    monkeypatch.setenv("SCHEDULER_PARTITIONS", "1")
    assert cli("schedules", "list").code == 0

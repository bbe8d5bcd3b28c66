"""``scheduler schedules`` and ``scheduler dead-letters``: the core from a terminal."""

from __future__ import annotations

import json
from pathlib import Path

from shared.store import Store
from tests.test_cli import scheduler


def make_account(redis_url: str, tmp_path: Path) -> str:
    result = scheduler(
        "accounts",
        "create",
        "acme",
        "--json",
        REDIS_URL=redis_url,
        SCHEDULER_DATA_DIR=str(tmp_path),
    )
    return json.loads(result.stdout)["appkey"]


def test_add_webhook_stores_a_due_schedule_and_show_reads_it(
    clean_redis: str, tmp_path: Path, store: Store
) -> None:
    env = {"REDIS_URL": clean_redis, "SCHEDULER_DATA_DIR": str(tmp_path)}
    appkey = make_account(clean_redis, tmp_path)
    added = scheduler(
        "schedules",
        "add-webhook",
        "--account",
        appkey,
        "--url",
        "https://example.com/h",
        "--cron",
        "0 9 * * 1",
        "--timezone",
        "Europe/Paris",
        **env,
    )
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    assert created["next"].endswith(":00:00Z")  # 09:00 Paris is 08:00 or 07:00 UTC
    assert store.next_fire_ms(created["id"]) is not None

    shown = json.loads(
        scheduler("schedules", "show", created["id"], "--account", appkey, **env).stdout
    )
    assert shown["schedule"]["trigger"] == {
        "kind": "cron",
        "expr": "0 9 * * 1",
        "timezone": "Europe/Paris",
    }
    assert shown["next"] == created["next"] and shown["runs"] == []

    other = scheduler("schedules", "show", created["id"], "--account", "someone-else", **env)
    assert other.returncode == 1 and "no schedule" in other.stderr


def test_unsafe_or_bad_input_is_refused_with_a_message(clean_redis: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": clean_redis, "SCHEDULER_DATA_DIR": str(tmp_path)}
    appkey = make_account(clean_redis, tmp_path)
    internal = scheduler(
        "schedules",
        "add-webhook",
        "--account",
        appkey,
        "--url",
        "http://169.254.169.254/",
        "--in",
        "5",
        **env,
    )
    assert internal.returncode == 1 and "link-local" in internal.stderr
    bad_cron = scheduler(
        "schedules",
        "add-webhook",
        "--account",
        appkey,
        "--url",
        "https://example.com/",
        "--cron",
        "61 * * * *",
        **env,
    )
    assert bad_cron.returncode == 1 and "minute" in bad_cron.stderr
    assert "Traceback" not in internal.stderr + bad_cron.stderr


def test_redrive_of_an_unknown_dead_letter_says_so(clean_redis: str, tmp_path: Path) -> None:
    result = scheduler(
        "dead-letters", "redrive", "nope:1", REDIS_URL=clean_redis, SCHEDULER_DATA_DIR=str(tmp_path)
    )
    assert result.returncode == 1 and "no dead letter" in result.stderr

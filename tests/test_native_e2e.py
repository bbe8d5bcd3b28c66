"""/v1 end to end: the API writes, one real beat and one webhooks worker (for the whole module)
deliver to a receiver on 127.0.0.1; signatures are checked with ``standardwebhooks``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.store import Store
from shared.timing import parse_iso8601
from shared.timing.fires import jitter_offset_ms
from tests.native_support import Stack, due_of, running_stack
from tests.support import HttpReceiver, basic, iso, now_ms, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("native-e2e")
    pools = {"webhooks": {}, "tasks": {"concurrency": 1}, "jobs": {"concurrency": 1}}
    with HttpReceiver() as receiver, running_stack(redis_url, workdir, receiver, pools) as stack:
        yield stack


def test_a_schedule_fires_signed_and_its_run_is_recorded(stack: Stack) -> None:
    at = iso(now_ms() + 1500)
    view = stack.schedule("/once", {"at": at})
    hit = wait_until(lambda: (stack.hits("/once") or [None])[0], what="the callback")
    assert hit.body == b'{"from":"/once"}' and hit.headers["Content-Type"] == "application/json"
    Webhook(stack.creds["webhook_secret"]).verify(hit.body, hit.headers)  # raises if bad
    assert hit.at_ms >= parse_iso8601(at)
    runs = wait_until(
        lambda: stack.api.get(
            f"/v1/schedules/{view['id']}/runs", headers=basic(stack.creds)
        ).get_json()["items"],
        what="the run record",
    )
    # the same instant (the API leaves out a whole second's ".000", which `at` may have)
    assert [(r["status"], r["attempt"], parse_iso8601(r["scheduled"])) for r in runs] == [
        ("succeeded", 1, parse_iso8601(at))
    ]
    read = stack.api.get(f"/v1/schedules/{view['id']}", headers=basic(stack.creds)).get_json()
    assert read["state"] == "done" and read["next_fires"] == []


def test_pause_stops_the_fires_and_resume_starts_them_again(stack: Stack) -> None:
    view = stack.schedule("/every", {"every": 1})
    wait_until(lambda: len(stack.hits("/every")) >= 2, what="two fires")
    paused = stack.post(f"/v1/schedules/{view['id']}/pause").get_json()
    assert paused["state"] == "paused"
    # A fire claimed just before the pause may still land; after it, nothing. An absence has
    # no event to wait on: three fire periods are watched.
    settled, paused_at = len(stack.hits("/every")), now_ms()
    wait_until(lambda: now_ms() >= paused_at + 3000, what="three quiet seconds")
    assert len(stack.hits("/every")) <= settled + 1
    quiet = len(stack.hits("/every"))
    resumed = stack.post(f"/v1/schedules/{view['id']}/resume").get_json()
    assert resumed["state"] == "active"
    wait_until(lambda: len(stack.hits("/every")) >= quiet + 2, what="fires after resume")
    stack.api.delete(f"/v1/schedules/{view['id']}", headers=basic(stack.creds))


def test_trigger_runs_a_paused_schedule_now(stack: Stack) -> None:
    view = stack.schedule("/now", {"cron": "0 0 1 1 *"}, paused=True)
    answer = stack.post(f"/v1/schedules/{view['id']}/trigger")
    assert answer.status_code == 202
    execution = answer.get_json()["execution"]
    hit = wait_until(lambda: (stack.hits("/now") or [None])[0], what="the run now")
    assert hit.headers["webhook-id"] == execution


def test_after_a_rotation_both_secrets_sign_during_the_overlap(stack: Stack) -> None:
    old = stack.creds["webhook_secret"]
    rotated = stack.post("/v1/webhook-secret/rotate", {"overlap_s": 3600})
    new = rotated.get_json()["webhook_secret"]
    stack.schedule("/rotated", {"at": iso(now_ms() + 1000)})
    hit = wait_until(lambda: (stack.hits("/rotated") or [None])[0], what="the callback")
    Webhook(new).verify(hit.body, hit.headers)
    Webhook(old).verify(hit.body, hit.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(hit.body, hit.headers)


def test_an_api_key_with_only_read_is_refused_a_write(stack: Stack) -> None:
    made = stack.post("/v1/api-keys", {"name": "reader", "scopes": ["schedules:read"]})
    key = made.get_json()["key"]
    bearer = {"Authorization": f"Bearer {key}"}
    body = {"name": "x", "trigger": {"cron": "0 3 * * *"}, "target": {"webhook": {"url": "x"}}}
    refused = stack.api.post("/v1/schedules", json=body, headers=bearer)
    assert refused.status_code == 403
    assert refused.get_json()["detail"] == "this API key lacks the scope 'schedules:write'"
    assert stack.api.get("/v1/schedules", headers=bearer).status_code == 200


def test_an_idempotent_create_is_made_once(stack: Stack) -> None:
    headers = {"Idempotency-Key": "e2e-once"}
    body = {
        "name": "idem",
        "trigger": {"at": iso(now_ms() + 1000)},
        "target": {"webhook": {"url": stack.receiver.url + "/idem"}},
    }
    first = stack.post("/v1/schedules", body, **headers)
    second = stack.post("/v1/schedules", body, **headers)
    assert first.get_json() == second.get_json()
    wait_until(lambda: stack.hits("/idem"), what="the callback")
    listed = stack.api.get("/v1/schedules?limit=100", headers=basic(stack.creds)).get_json()
    assert [s["name"] for s in listed["items"]].count("idem") == 1


def test_jitter_moves_each_fire_stably_and_a_retry_keeps_its_instant(stack: Stack) -> None:
    every_ms, jitter_ms = 2000, 1000
    anchor = (now_ms() // 1000 + 1) * 1000
    with HttpReceiver(statuses=[500, 200]) as flaky:  # the first attempt fails: one retry
        target = {"webhook": {"url": flaky.url + "/jitter"}}
        trigger = {"every": 2, "anchor": iso(anchor)}
        body = {"name": "jitter", "trigger": trigger, "target": target, "jitter_s": 1}
        view = stack.post("/v1/schedules", body).get_json()

        def ids() -> list[str]:
            return [hit.headers["webhook-id"] for hit in list(flaky.requests)]

        def retried_and_fired_again() -> bool:
            seen = ids()
            return bool(seen) and seen.count(seen[0]) == 2 and len(set(seen)) >= 2

        wait_until(retried_and_fired_again, what="the first fire's retry and another fire")
        stack.api.delete(f"/v1/schedules/{view['id']}", headers=basic(stack.creds))
    # the retry is the same execution (the same moved instant); each fire moved by its offset
    assert ids().count(ids()[0]) == 2 and len(set(ids())) >= 2
    for execution in set(ids()):
        schedule_id, due = execution.rsplit(":", 1)
        raw = anchor + (int(due) - anchor) // every_ms * every_ms
        assert int(due) == raw + jitter_offset_ms(schedule_id, raw, jitter_ms)


def test_a_backfill_of_a_past_day_runs_each_hour_with_its_own_instant(stack: Stack) -> None:
    view = stack.schedule("/backfill", {"cron": "0 * * * *"}, timezone="UTC", paused=True)
    day_ms = (now_ms() // 86_400_000 - 1) * 86_400_000  # yesterday, 00:00 UTC
    day = {"start": iso(day_ms), "end": iso(day_ms + 86_399_999)}
    asked_ms = now_ms()
    answer = stack.post(f"/v1/schedules/{view['id']}/backfill", day)
    assert answer.status_code == 202
    wait_until(lambda: len(stack.hits("/backfill")) >= 24, what="24 backfilled runs")
    ids = sorted(hit.headers["webhook-id"] for hit in stack.hits("/backfill"))
    expected = [f"{view['id']}:backfill-{day_ms + h * 3_600_000}" for h in range(24)]
    assert ids == sorted(expected) == sorted(answer.get_json()["executions"])
    # paced: the n-th run (oldest instant first) goes out no sooner than n * 100 ms after
    arrived = {hit.headers["webhook-id"]: hit.at_ms for hit in stack.hits("/backfill")}
    for n, execution in enumerate(answer.get_json()["executions"]):
        assert arrived[execution] >= asked_ms + n * 100, n


def test_task_and_beacon_targets_are_delivered_by_their_pools(stack: Stack) -> None:
    task = {"task": {"class_name": "\\scheduler\\Tasks\\BackupTask"}}
    beacon = {"beacon": {"beacon_name": "nightly-agent", "tasks": [{"cmd": "report"}]}}
    made = {}
    for name, target in (("task", task), ("beacon", beacon)):
        body = {"name": name, "trigger": {"cron": "0 0 1 1 *"}, "target": target, "paused": True}
        made[name] = stack.post("/v1/schedules", body).get_json()["id"]
        assert stack.post(f"/v1/schedules/{made[name]}/trigger").status_code == 202

    def runs(name: str) -> list[dict[str, Any]]:
        url = f"/v1/schedules/{made[name]}/runs"
        items: list[dict[str, Any]] = stack.api.get(url, headers=basic(stack.creds)).json["items"]
        return items

    for name in made:
        done = wait_until(lambda n=name: runs(n), timeout_s=30, what=f"the {name} run")
        assert done[0]["status"] == "succeeded", done
    store = Store.from_url(stack.group.redis_url)
    queued = store.queued_job_ids(stack.creds["appkey"], "nightly-agent")
    assert len(queued) == 1  # the fire queued a job for that beacon, with its tasks
    job = store.get_job(stack.creds["appkey"], queued[0])
    assert json.loads(job["doc"])["tasks"] == [{"cmd": "report"}]


def test_after_downtime_fires_within_the_catch_up_window_run_late_and_older_are_missed(
    stack: Stack,
) -> None:
    """Last in the module: it stops the beat and starts another (with a 0.5 s misfire grace)."""
    anchor = (now_ms() // 1000 + 1) * 1000
    view = stack.schedule("/catchup", {"every": 1, "anchor": iso(anchor)}, catchup_window_s=5)
    wait_until(lambda: stack.hits("/catchup"), what="a first fire")
    beat = stack.group.procs[0]
    beat.terminate()
    beat.wait(timeout=10)
    stopped_ms = now_ms()
    # The downtime: longer than the window, so some fires are older than it when a beat returns.
    wait_until(lambda: now_ms() >= stopped_ms + 9000, what="nine seconds without a beat")
    stack.group.beat(misfire_grace_ms=500)
    restarted_ms = now_ms()

    def late_fires() -> list[Any]:
        """Fires of the downtime delivered late (past the 0.5 s grace)."""
        hits = stack.hits("/catchup")
        return [h for h in hits if due_of(h) > stopped_ms and h.at_ms - due_of(h) > 500]

    # Those of the window run, each with its own instant, at most the window late (plus a tick
    # and the delivery); the window is wide enough that a loaded machine's slow ticks still leave
    # two of them inside it. They travel beside the first fires after the restart, in any order:
    # wait for both.
    def after_restart() -> bool:
        return any(due_of(h) > restarted_ms for h in stack.hits("/catchup"))

    wait_until(
        lambda: len(late_fires()) >= 2 and after_restart(),
        timeout_s=30,
        what="late fires of the window and fires after the restart",
    )
    late = late_fires()
    assert len(late) >= 2, "the fires of the window run, each with its own instant"
    assert len({due_of(h) for h in late}) == len(late)
    assert all(h.at_ms - due_of(h) < 5000 + 2000 for h in late)
    runs = stack.api.get(f"/v1/schedules/{view['id']}/runs?limit=100", headers=basic(stack.creds))
    stack.api.delete(f"/v1/schedules/{view['id']}", headers=basic(stack.creds))
    missed = [r for r in runs.get_json()["items"] if r["status"] == "skipped"]
    assert missed and "catch-up window" in missed[0]["reason"]
    delivered = {due_of(h) for h in stack.hits("/catchup")}
    assert parse_iso8601(missed[0]["scheduled"]) not in delivered

"""The engine end to end, with real processes: Redis, `celery beat` with our scheduler, workers.

Each property of the beat named in the design has its test here: exactly one publish per fire
with two beats, no fire lost when a beat is SIGKILLed between claim and publish, edits and
deletes picked up without restarts, missed fires coalesced or skipped after downtime, and the
webhook pool delivering, retrying and dead-lettering.
"""

from __future__ import annotations

import base64
import json
import signal
from collections import Counter

from shared.config import Config
from shared.execution import execution_id
from shared.store import Store
from tests.factories import cron, every, once, webhook_schedule
from tests.support import (
    HttpReceiver,
    ProcessGroup,
    Received,
    now_ms,
    queued_messages,
    queued_task_ids,
    wait_until,
)


def execution_of(message: dict) -> dict:
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return args[0]


def test_a_webhook_fires_once_at_its_instant(
    store: Store, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    processes.beat()
    processes.worker("webhooks")
    wait_until(store.last_beat_ms, what="beat running")
    due = now_ms() + 1500
    schedule = webhook_schedule(once(due), receiver.url + "/hook", data='{"n":1}')
    store.put_schedule(schedule, due)

    wait_until(lambda: receiver.count() == 1, what="the callback")
    request = receiver.requests[0]
    assert request.at_ms >= due
    assert request.path == "/hook"
    assert request.body == b'{"n":1}'
    assert request.headers["Content-Type"] == "application/json"
    runs = wait_until(lambda: store.history(schedule.id), what="the run record")
    assert [(r.status, r.attempt, r.due_ms) for r in runs] == [("succeeded", 1, due)]
    assert runs[0].id == execution_id(schedule.id, due)
    assert runs[0].result["status"] == 200
    assert store.next_fire_ms(schedule.id) is None  # a one-shot schedule retires
    # and it never fires again: wait for two more beat ticks, then count
    seen = now_ms()
    wait_until(lambda: (store.last_beat_ms() or 0) > seen + 1000, what="two more ticks")
    assert receiver.count() == 1


def test_a_lone_schedule_every_second_fires_at_each_instant(
    store: Store, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    """With nothing else due, the beat wakes for the fire its last tick advanced, not after its
    longest sleep (5 s, the default, which the other tests shorten): each fire arrives within a
    second or two of its instant, not 4 s late and later each time."""
    processes.beat(beat_max_sleep_s=5)
    processes.worker("webhooks")
    wait_until(store.last_beat_ms, what="beat running")
    start = now_ms() + 1000
    schedule = webhook_schedule(every(1000, start), receiver.url + "/lone")
    store.put_schedule(schedule, start)
    wait_until(lambda: receiver.count() >= 5, timeout_s=60, what="five fires")
    arrivals = sorted(request.at_ms for request in receiver.requests)[:5]
    lags = [at - (start + 1000 * k) for k, at in enumerate(arrivals)]  # the k-th fire's
    assert all(0 <= lag < 2500 for lag in lags), lags


def test_two_beats_never_publish_the_same_fire_twice(store: Store, processes: ProcessGroup) -> None:
    start = now_ms() + 1000
    schedules = [webhook_schedule(every(200, start)) for _ in range(40)]
    for schedule in schedules:
        store.put_schedule(schedule, start)
    processes.beat(beat_batch=7)  # small batches: the two beats interleave many claims
    processes.beat(beat_batch=7)
    wait_until(
        lambda: len(queued_task_ids(store_url(store), "webhooks")) >= 40 * 10,
        timeout_s=30,
        what="ten fires of each schedule",
    )
    processes.stop_all()
    ids = queued_task_ids(store_url(store), "webhooks")
    duplicates = [task_id for task_id, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    # every schedule fired at its own consecutive instants, none skipped
    for schedule in schedules:
        dues = sorted(int(i.split(":")[1]) for i in ids if i.startswith(schedule.id + ":"))
        assert dues == [start + 200 * k for k in range(len(dues))], f"{schedule.id}: {dues}"


def test_a_beat_killed_between_claim_and_publish_loses_no_fire(
    store: Store, processes: ProcessGroup
) -> None:
    due = now_ms()
    schedule = webhook_schedule(once(due))
    store.put_schedule(schedule, due)
    doomed = processes.beat(beat_pause_after_claim_ms=60_000, beat_lease_ms=1500)
    wait_until(
        lambda: store.redis.zscore(store.keys.leases(), schedule.id), what="the doomed claim"
    )
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    assert queued_task_ids(store_url(store), "webhooks") == []

    processes.beat(beat_lease_ms=1500)
    wait_until(lambda: queued_task_ids(store_url(store), "webhooks"), what="the re-claimed fire")
    seen = now_ms()
    wait_until(lambda: (store.last_beat_ms() or 0) > seen + 1000, what="more ticks")
    assert queued_task_ids(store_url(store), "webhooks") == [execution_id(schedule.id, due)]


def test_edits_and_deletes_apply_on_the_next_tick(store: Store, processes: ProcessGroup) -> None:
    processes.beat()
    wait_until(store.last_beat_ms, what="beat running")
    hourly = webhook_schedule(cron("0 * * * *"), "http://127.0.0.1:9/old")
    store.put_schedule(hourly, now_ms() + 3_600_000)

    # edit: the same schedule, now due in a moment, with a new URL
    due = now_ms() + 500
    edited = webhook_schedule(once(due), "http://127.0.0.1:9/new", id=hourly.id)
    store.put_schedule(edited, due, new=False)
    messages = wait_until(lambda: queued_messages(store_url(store), "webhooks"), what="edit")
    assert [execution_of(m)["target"]["spec"]["url"] for m in messages] == [
        "http://127.0.0.1:9/new"
    ]

    # delete: a schedule firing every 300 ms stops at once
    start = now_ms() + 300
    frequent = webhook_schedule(every(300, start))
    store.put_schedule(frequent, start)
    fired = lambda: [i for i in queued_task_ids(store_url(store), "webhooks") if frequent.id in i]  # noqa: E731
    wait_until(lambda: len(fired()) >= 2, what="two fires")
    store.delete_schedule(frequent)
    count_at_delete = len(fired())
    seen = now_ms()
    wait_until(lambda: (store.last_beat_ms() or 0) > seen + 1500, what="more ticks")
    # at most one fire that was already claimed in the tick racing the delete
    assert len(fired()) <= count_at_delete + 1
    assert store.next_fire_ms(frequent.id) is None


def test_missed_fires_are_coalesced_by_default_and_skipped_on_request(
    store: Store, processes: ProcessGroup
) -> None:
    # A minutely schedule whose next fire was 10 minutes ago: the beat was down meanwhile.
    missed_at = now_ms() - 600_000
    coalesced = webhook_schedule(cron("* * * * *"))
    skipped = webhook_schedule(cron("* * * * *"), misfire="skip")
    store.put_schedule(coalesced, missed_at)
    store.put_schedule(skipped, missed_at)
    processes.beat()

    messages = wait_until(lambda: queued_messages(store_url(store), "webhooks"), what="a fire")
    records = wait_until(lambda: store.history(skipped.id), what="the skip record")
    processes.stop_all()
    assert [execution_of(m)["schedule"] for m in messages] == [coalesced.id]  # once, not ten times
    late = execution_of(messages[0])["late_ms"]
    assert 600_000 <= late < 660_000
    assert [(r.status, r.due_ms) for r in records] == [("skipped", missed_at)]
    assert records[0].late_ms >= 600_000
    for schedule in (coalesced, skipped):  # both resume in the future, on the minute
        next_ms = store.next_fire_ms(schedule.id)
        assert next_ms > now_ms() - 1000 and next_ms % 60_000 == 0


def test_a_schedule_for_the_next_second_wakes_a_sleeping_beat_on_time(
    store: Store, processes: ProcessGroup
) -> None:
    processes.beat(beat_max_sleep_s=120)
    wait_until(store.last_beat_ms, what="beat asleep")  # its first tick, then a long sleep
    due = now_ms() + 1000
    store.put_schedule(webhook_schedule(once(due)), due)
    messages = wait_until(
        lambda: queued_messages(store_url(store), "webhooks"),
        timeout_s=10,  # far below the 120 s the beat would otherwise sleep
        what="the fire, well before the beat's longest sleep",
    )
    # The announcement woke the beat, which then slept until the due instant exactly.
    assert execution_of(messages[0])["late_ms"] < 250
    # Only the scheduler that ticks subscribes (Celery's banner builds a lazy one too).
    assert "wake channel error" not in processes.logs()


def test_failing_callbacks_are_retried_with_backoff_then_dead_lettered(
    store: Store, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    receiver.statuses = [503, 500, 502]
    settings = {"max_attempts": 3, "retry_base_s": 0.4, "retry_max_s": 5}
    processes.beat(**settings)
    processes.worker("webhooks", **settings)
    due = now_ms() + 200
    schedule = webhook_schedule(once(due), receiver.url)
    store.put_schedule(schedule, due)

    letters = wait_until(store.dead_letters, timeout_s=30, what="a dead letter")
    runs = list(reversed(store.history(schedule.id)))
    assert [(r.attempt, r.status) for r in runs] == [(1, "retrying"), (2, "retrying"), (3, "dead")]
    assert [r.error for r in runs] == ["HTTP 503", "HTTP 500", "HTTP 502"]
    times = [r.at_ms for r in receiver.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 200 and gaps[1] >= 400  # half of 0.4 s, then half of 0.8 s at least
    assert letters[0]["execution"]["id"] == execution_id(schedule.id, due)
    assert {r.headers.get("Content-Type") for r in receiver.requests} == {"application/json"}


def test_a_client_error_is_not_retried(
    store: Store, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    receiver.statuses = [404]
    processes.beat()
    processes.worker("webhooks")
    due = now_ms() + 200
    schedule = webhook_schedule(once(due), receiver.url)
    store.put_schedule(schedule, due)
    letters = wait_until(store.dead_letters, what="a dead letter")
    assert [(r.attempt, r.status, r.error) for r in store.history(schedule.id)] == [
        (1, "failed", "HTTP 404")
    ]
    assert receiver.count() == 1 and letters[0]["error"] == "HTTP 404"


def test_a_redelivered_completed_execution_is_not_run_again(
    store: Store, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    processes.beat()
    processes.worker("webhooks")
    due = now_ms() + 200
    schedule = webhook_schedule(once(due), receiver.url)
    store.put_schedule(schedule, due)
    wait_until(lambda: store.history(schedule.id), what="the first delivery")
    # the broker hands the same message over again (as after a lost ack)
    from shared.messages import build_message

    execution = {
        "id": execution_id(schedule.id, due),
        "schedule": schedule.id,
        "account": schedule.account,
        "dialect": "test",
        "due_ms": due,
        "attempt": 1,
        "target": {"kind": "webhook", "spec": schedule.target.spec},
    }
    message = build_message("workers.webhooks.deliver", execution["id"], "webhooks", [execution])
    store.redis.lpush("webhooks", message)
    wait_until(lambda: store.redis.llen("webhooks") == 0, what="the duplicate consumed")
    wait_until(lambda: "not run: done" in processes.logs(), what="the worker skipping it")
    assert receiver.count() == 1


def store_url(store: Store) -> str:
    kwargs = store.redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_config_reads_the_environment() -> None:
    config = Config.from_env({"REDIS_URL": "redis://h:1/2", "SCHEDULER_BEAT_BATCH": "5"})
    assert (config.redis_url, config.beat_batch) == ("redis://h:1/2", 5)


def test_callbacks_are_signed_with_the_accounts_secrets_across_a_rotation(
    store: Store, config: Config, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    from standardwebhooks.webhooks import Webhook

    from shared.accounts import create_account, load_secret_key, rotate_webhook_secret

    key = load_secret_key(config)  # the same data dir as the worker's: the same server key
    creds = create_account(store, "acme", secret_key=key, now_ms=now_ms())
    processes.beat()
    processes.worker("webhooks")
    first_due = now_ms() + 300
    schedule = webhook_schedule(every(1000, first_due), receiver.url, account=creds["appkey"])
    store.put_schedule(schedule, first_due)
    wait_until(lambda: receiver.count() >= 1, what="a signed callback")
    new_secret = rotate_webhook_secret(store, creds["appkey"], key, now_ms=now_ms())
    rotated_ms = now_ms()

    # Callbacks are delivered concurrently, so they may arrive out of order: pick them by id.
    # One due after the rotation was signed after it (a fire is not published before its due
    # instant); one due before may have been signed before it (a loaded machine catches up).
    def due_of(request: Received) -> int:
        return int(request.headers["webhook-id"].rsplit(":")[-1])

    def signed_after() -> list[Received]:
        return [r for r in receiver.requests if due_of(r) > rotated_ms]

    wait_until(signed_after, what="a callback due after the rotation")
    store.delete_schedule(schedule)
    before, after = min(receiver.requests, key=due_of), min(signed_after(), key=due_of)
    assert before.headers["webhook-id"] == execution_id(schedule.id, first_due)
    Webhook(creds["webhook_secret"]).verify(before.body, before.headers)
    assert len(after.headers["webhook-signature"].split()) == 2  # the overlap: both sign
    Webhook(new_secret).verify(after.body, after.headers)
    Webhook(creds["webhook_secret"]).verify(after.body, after.headers)

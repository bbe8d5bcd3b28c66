"""The overlap policies end to end: every-second /v1 schedules delivered by a real beat and
webhooks worker to a receiver on 127.0.0.1 that answers each call after 3 s, so each fire
falls while the previous execution still runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.store import Store
from shared.timing import parse_iso8601
from tests.native_support import Stack, due_of, running_stack
from tests.support import HttpReceiver, basic, wait_until

pytestmark = pytest.mark.e2e

ANSWER_S = 3.0  # the receiver's time per call: three fires fall due during each
SECOND_MS = 1000


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("overlap-e2e")
    with (
        HttpReceiver(delay_s=ANSWER_S) as receiver,
        running_stack(redis_url, workdir, receiver, {"webhooks": {}}) as stack,
    ):
        yield stack


def every_second(stack: Stack, path: str, overlap: str) -> str:
    view = stack.schedule(path, {"every": 1}, overlap=overlap)
    assert view["overlap"] == overlap
    return str(view["id"])


def first_calls(stack: Stack, path: str, count: int) -> list[Any]:
    """The first ``count`` calls to ``path``, once they have all arrived."""
    return wait_until(
        lambda: stack.hits(path)[:count] if len(stack.hits(path)) >= count else None,
        timeout_s=60,
        what=f"{count} calls to {path}",
    )


def runs(stack: Stack, schedule_id: str) -> list[dict[str, Any]]:
    answer = stack.api.get(
        f"/v1/schedules/{schedule_id}/runs?limit=100", headers=basic(stack.creds)
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    items: list[dict[str, Any]] = answer.get_json()["items"]
    return items


def skipped(stack: Stack, schedule_id: str) -> dict[int, str]:
    """The fires recorded as skipped: scheduled instant -> reason."""
    return {
        parse_iso8601(run["scheduled"]): run["reason"]
        for run in runs(stack, schedule_id)
        if run["status"] == "skipped"
    }


def assert_one_at_a_time(hits: list[Any]) -> None:
    """Each call arrived after the one before was answered (the receiver answers after 3 s)."""
    for before, after in zip(hits, hits[1:], strict=False):
        assert after.at_ms - before.at_ms >= ANSWER_S * SECOND_MS - 50, (before.at_ms, after.at_ms)


def assert_no_fire_lost(delivered: list[int], skipped_at: dict[int, str]) -> None:
    """Every fire from the first delivered to the last is delivered or recorded as skipped."""
    for due in range(delivered[0], delivered[-1] + 1, SECOND_MS):
        assert (due in delivered) != (due in skipped_at), due


def delete_and_check_nothing_left(stack: Stack, schedule_id: str) -> None:
    """Delete the schedule (if it is still there): no overlap state of it is left."""
    stack.api.delete(f"/v1/schedules/{schedule_id}", headers=basic(stack.creds))
    store = Store.from_url(stack.group.redis_url)
    assert store.redis.hget(store.keys.overlap_running(), schedule_id) is None
    assert not store.redis.exists(store.keys.overlap_buffer(schedule_id))


def test_skip_delivers_one_at_a_time_and_records_the_fires_it_skipped(stack: Stack) -> None:
    schedule_id = every_second(stack, "/skip", "skip")
    hits = first_calls(stack, "/skip", 3)
    assert_one_at_a_time(hits)
    delivered = [due_of(hit) for hit in hits]
    skipped_at = wait_until(
        lambda: (found := skipped(stack, schedule_id)) and max(found) > delivered[-1] and found,
        what="fires skipped after the third call",
    )
    assert all("still running (overlap: skip)" in reason for reason in skipped_at.values())
    assert_no_fire_lost(delivered, skipped_at)
    # no call is a fire that fell due before the one ahead of it was even sent: none waited
    assert all(due_of(after) > before.at_ms for before, after in zip(hits, hits[1:], strict=False))
    delete_and_check_nothing_left(stack, schedule_id)


def test_buffer_one_delivers_the_next_fire_after_the_previous_and_skips_the_rest(
    stack: Stack,
) -> None:
    schedule_id = every_second(stack, "/buffer-one", "buffer_one")
    hits = first_calls(stack, "/buffer-one", 3)
    assert_one_at_a_time(hits)
    delivered = [due_of(hit) for hit in hits]
    # the fire right after the first waited for it and ran as soon as it ended: late
    assert delivered[1] == delivered[0] + SECOND_MS
    assert hits[1].at_ms - delivered[1] >= ANSWER_S * SECOND_MS - SECOND_MS - 50
    skipped_at = wait_until(
        lambda: (found := skipped(stack, schedule_id)) and max(found) > delivered[-1] and found,
        what="fires skipped after the third call",
    )
    assert all("buffer full" in reason for reason in skipped_at.values())
    assert_no_fire_lost(delivered, skipped_at)
    delete_and_check_nothing_left(stack, schedule_id)


def test_buffer_all_delivers_every_fire_in_order_never_two_at_once(stack: Stack) -> None:
    schedule_id = every_second(stack, "/buffer-all", "buffer_all")
    hits = first_calls(stack, "/buffer-all", 4)
    assert_one_at_a_time(hits)
    delivered = [due_of(hit) for hit in hits]
    assert delivered == [delivered[0] + n * SECOND_MS for n in range(4)]  # every fire, in order
    assert skipped(stack, schedule_id) == {}
    store = Store.from_url(stack.group.redis_url)
    assert store.redis.llen(store.keys.overlap_buffer(schedule_id)) >= 2  # the rest wait
    waited_on = str(store.redis.hget(store.keys.overlap_running(), schedule_id))
    delete_and_check_nothing_left(stack, schedule_id)

    def every_call_ended() -> bool:
        ended = {r.id for r in store.history(schedule_id) if r.status == "succeeded"}
        return (
            waited_on in ended
            and {hit.headers["webhook-id"] for hit in stack.hits("/buffer-all")} <= ended
        )

    wait_until(every_call_ended, what="the end of the call running at the delete")
    # Nothing was released after it: the fires waiting went with the schedule (one more at
    # most, had that call ended between reading what ran and the delete).
    last_due = max(due_of(hit) for hit in stack.hits("/buffer-all"))
    assert last_due <= int(waited_on.rsplit(":", 1)[1]) + SECOND_MS
    assert len(stack.hits("/buffer-all")) == len(
        {hit.headers["webhook-id"] for hit in stack.hits("/buffer-all")}
    )
    delete_and_check_nothing_left(stack, schedule_id)

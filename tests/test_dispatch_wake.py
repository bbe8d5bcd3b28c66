"""When the beat wakes next, on a real Redis: a tick's answer covers what the tick itself just
advanced, so a schedule alone in the due index fires at each of its instants, not at the beat's
longest sleep (``SCHEDULER_BEAT_MAX_SLEEP_S``)."""

from __future__ import annotations

from scheduler_beat.dispatch import Dispatcher
from shared.config import Config
from shared.store import Store
from tests.factories import every, once, webhook_schedule

T0 = 1_800_000_000_000


def test_a_lone_schedule_wakes_the_beat_at_its_next_fire(store: Store) -> None:
    store.put_schedule(webhook_schedule(every(2000, T0)), T0)
    dispatcher = Dispatcher(store, Config())
    first = dispatcher.tick(T0 + 5)
    assert first.published == 1
    assert first.next_wake_ms == T0 + 2000  # not the republish bound, not None (max sleep)
    second = dispatcher.tick(T0 + 2000)
    assert (second.published, second.next_wake_ms) == (1, T0 + 4000)


def test_the_earliest_of_what_was_advanced_and_what_was_already_due(store: Store) -> None:
    store.put_schedule(webhook_schedule(every(3000, T0)), T0)
    store.put_schedule(webhook_schedule(once(T0 + 1000)), T0 + 1000)
    result = Dispatcher(store, Config()).tick(T0)
    assert (result.published, result.next_wake_ms) == (1, T0 + 1000)


def test_a_last_fire_leaves_nothing_to_wake_for_but_the_republish_bound(store: Store) -> None:
    store.put_schedule(webhook_schedule(once(T0)), T0)
    config = Config()
    result = Dispatcher(store, config).tick(T0)
    assert result.published == 1
    assert result.next_wake_ms == T0 + config.republish_after_ms  # its execution, if unbegun

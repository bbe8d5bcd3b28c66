"""A webhooks worker's room for executions between begin and end (workers.batch.Capacity)."""

from __future__ import annotations

import threading

from tests.support import wait_until
from workers.batch import Capacity


def test_a_message_waits_until_there_is_room_for_all_of_it() -> None:
    room = Capacity(10)
    entered = threading.Event()
    with room.held(7):

        def second() -> None:
            with room.held(5):
                entered.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.3)  # 7 + 5 > 10: it waits
    assert entered.wait(5)  # room freed: it goes
    thread.join(5)


def test_large_messages_never_hold_part_of_the_room_each() -> None:
    room = Capacity(10)
    done = []

    def take(count: int) -> None:
        for _ in range(200):
            with room.held(count):
                pass
        done.append(count)

    threads = [threading.Thread(target=take, args=(n,)) for n in (6, 7, 8, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(done) == [6, 7, 8, 9]


def test_a_message_larger_than_the_room_takes_all_of_it() -> None:
    room = Capacity(3)
    with room.held(50):
        pass  # capped at the limit, not waiting for ever


def test_a_message_gives_back_the_room_of_its_ended_executions() -> None:
    room = Capacity(10)
    entered = threading.Event()
    with room.held(10) as held:

        def second() -> None:
            with room.held(6):
                entered.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.3)  # all 10 in flight: it waits
        held.keep(4)  # 6 ended, 4 still run (a hung receiver's): their room is free
        assert entered.wait(5)
        thread.join(5)
        held.keep(9)  # never takes back more than it holds
        assert held.count == 4


def test_messages_get_room_in_the_order_they_asked_for_it() -> None:
    room = Capacity(10)
    granted: list[int] = []
    release = [threading.Event() for _ in range(4)]

    def message(n: int, count: int) -> None:
        with room.held(count):
            granted.append(n)
            release[n].wait(10)

    threads = []
    with room.held(10):  # full: every message below waits, in this order
        for n, count in enumerate((6, 2, 5, 2)):
            threads.append(threading.Thread(target=message, args=(n, count)))
            threads[-1].start()
            wait_until(lambda n=n: room.waiting() == n + 1, timeout_s=5, what="in line")
    wait_until(lambda: len(granted) == 2, timeout_s=5, what="the first two")
    assert sorted(granted) == [0, 1]  # 6 + 2 fit at once
    # 5 does not fit beside them; the last 2 would, but waits behind 5 (never passed for ever)
    assert room.waiting() == 2 and len(granted) == 2
    release[0].set()  # 6 given back: 5 and 2 both fit now
    wait_until(lambda: len(granted) == 4, timeout_s=5, what="the last two")
    for event in release:
        event.set()
    for thread in threads:
        thread.join(5)

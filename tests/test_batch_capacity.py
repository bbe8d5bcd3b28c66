"""A webhooks worker's room for executions between begin and end (workers.batch.Capacity)."""

from __future__ import annotations

import threading

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

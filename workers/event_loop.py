"""One asyncio event loop per worker process, on a thread of its own, for the delivery pools' I/O.

A Celery task runs on one of the pool's threads and is synchronous; the HTTP calls of its
deliveries are coroutines. ``submit(coro)`` hands one to the loop and returns a
``concurrent.futures.Future`` the task waits on: hundreds of callbacks are in flight on one loop
while each task's thread sleeps, instead of a blocked thread (and its stack and switches) per call.

The loop is uvloop's (libuv under asyncio's interface): the same coroutines, timers and
sockets, at less CPU per callback than the standard library's loop (bench/delivery_cpu.py).
It is started on first use, so a prefork child builds its own after the fork, and it is a
daemon thread: a worker that exits does not wait for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")

# What makes the loop (a bench compares it with asyncio.new_event_loop).
new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_owner_pid = 0


def loop() -> asyncio.AbstractEventLoop:
    """This process's delivery loop, started if need be."""
    global _loop, _owner_pid
    with _lock:
        if _loop is None or _owner_pid != os.getpid() or _loop.is_closed():
            _loop = new_loop()
            _owner_pid = os.getpid()
            ready = threading.Event()
            thread = threading.Thread(
                target=_run, args=(_loop, ready), name="delivery-loop", daemon=True
            )
            thread.start()
            ready.wait()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run ``coro`` on the delivery loop; its future can be waited on from any thread."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def run(coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
    """Run ``coro`` on the delivery loop and wait for its result (tests, one-off calls)."""
    return submit(coro).result(timeout_s)


def _run(event_loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(event_loop)
    event_loop.call_soon(ready.set)
    event_loop.run_forever()

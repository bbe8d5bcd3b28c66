"""A closed-loop HTTP/1.1 load generator: N connections, each sending its next request as soon as
the previous answer is read, for a fixed time; latencies of every answer.

Plain asyncio streams, keep-alive (a new connection only when the server closes one, as
werkzeug's development server does after every answer), requests built ahead of time: the
client's own cost per request stays a few tens of microseconds, so on a shared 2-core machine
it takes as little as it can from the server it measures. Its CPU time is reported too.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ANSWER_HEAD_MAX_BYTES = 64 * 1024


@dataclass
class Load:
    """What one run measured: answers completed inside the window, and their latencies."""

    concurrency: int
    window_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # every answer, warm-up included
    client_cpu_s: float = 0.0
    connections_opened: int = 0

    @property
    def per_s(self) -> float:
        return len(self.latencies_s) / self.window_s

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def answered(self) -> int:
        return sum(self.statuses.values())


@dataclass
class _Window:
    start: float
    end: float


def run(
    port: int,
    request: Callable[[], bytes],
    concurrency: int,
    duration_s: float,
    warmup_s: float,
) -> Load:
    """Load ``127.0.0.1:port`` with ``concurrency`` connections for ``warmup_s`` + ``duration_s``;
    only answers that complete in the last ``duration_s`` are measured."""
    load = Load(concurrency, duration_s)
    cpu_before = time.process_time()
    asyncio.run(_drive(port, request, load, warmup_s))
    load.client_cpu_s = time.process_time() - cpu_before
    return load


async def _drive(port: int, request: Callable[[], bytes], load: Load, warmup_s: float) -> None:
    now = time.perf_counter()
    window = _Window(now + warmup_s, now + warmup_s + load.window_s)
    clients = [_client(port, request, load, window) for _ in range(load.concurrency)]
    await asyncio.gather(*clients)


async def _client(port: int, request: Callable[[], bytes], load: Load, window: _Window) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while (sent := time.perf_counter()) < window.end:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                load.connections_opened += 1
            assert reader is not None
            writer.write(request())
            status, keep = await _answer(reader)
            done = time.perf_counter()
            load.statuses[status] = load.statuses.get(status, 0) + 1
            if window.start <= done <= window.end:
                load.latencies_s.append(done - sent)
            if not keep:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer (head, then Content-Length bytes); its status and whether the
    connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > ANSWER_HEAD_MAX_BYTES:
        raise RuntimeError("answer head too large")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, keep = None, lines[0].startswith("HTTP/1.1")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            keep = value.strip().lower() != "close"
    if length is None:
        raise RuntimeError(f"answer without Content-Length: {lines[0]!r}")
    await reader.readexactly(length)
    return status, keep


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of ``root_pid`` and its children so far (Linux /proc)."""
    return sum(cpu_seconds_by_pid(root_pid).values())


def cpu_seconds_by_pid(root_pid: int) -> dict[int, float]:
    """User + system CPU seconds so far of ``root_pid`` and of each of its children."""
    ticks = os.sysconf("SC_CLK_TCK")
    by_pid = {}
    for pid in _family(root_pid):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        by_pid[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (14, 15)
    return by_pid


def children(root_pid: int) -> list[int]:
    """The processes below ``root_pid`` (a server's workers)."""
    return _family(root_pid)[1:]


def _family(root_pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    family, frontier = [root_pid], [root_pid]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        family += frontier
    return family

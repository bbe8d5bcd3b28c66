"""Which partition holds what: a stable function of an id, so any process finds the partition
from what it is handed (a schedule id, an execution id, an account's appkey), with no lookup.

A schedule's partition is the CRC-32 of its id, modulo the partition count P. Hashing the id,
rather than writing the partition into new ids, keeps every id form the dialects already hand
out (UUIDs, ``task-<appkey>-<n>``, ids a client chose) and every stored id valid, and spreads
one big account's schedules over all partitions. An execution id starts with its schedule's id
and a colon (``<schedule>:<due ms>``, ``<schedule>:run-...``, ``<schedule>:<due>:on-failure-n``),
so the part before the first colon routes both; a schedule id with a colon in it routes by the
same part, so its executions still land beside it. Account records that are not per schedule
(task and job counters, beacon jobs, devices) live in the account's home partition: its appkey
routed the same way. With P = 1 everything is partition 0, today's layout.
"""

from __future__ import annotations

import zlib


def routing_part(ident: str) -> str:
    """The part of an id that picks its partition (see the module's docstring)."""
    return ident.split(":", 1)[0]


def partition_of(ident: str, count: int) -> int:
    """The partition (0 to ``count`` - 1) of a schedule, execution or account id."""
    if count <= 1:
        return 0
    return zlib.crc32(routing_part(ident).encode()) % count

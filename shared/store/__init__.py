"""The Redis store: every key the service uses, every Lua script, and the verbs over them.

Nothing else in the project spells a key, runs a script or talks to Redis. The package, bottom up:
``keys`` (the key schema, with the data model on one page), ``scripts`` (the Lua scripts of
``lua/``, registered once), ``base`` (client, keys and scripts together, the safety check), then
one module per group of verbs: ``schedules`` (definitions and the beat's claim/commit),
``executions`` (attempts, history, dead letters), ``ledger`` (what was published and not finished,
re-published when overdue), ``accounts`` (and dashboard sessions), ``gauges`` (operators'
readings), ``ratelimits`` (the API's window counters), and each dialect's own records: ``push``,
``tasks``, ``jobs``, ``native`` (API keys, idempotent answers), ``outbox`` (what the relay moves to
a broker apart). ``Store`` is all of them over one client.
What a script answers (a status code) is named beside the wrapper that reads it
(``CommitStatus``, ``Verdict``, ``RepublishOutcome``, ``Transition``, ``LeaseOutcome``).
"""

from __future__ import annotations

from shared.store.accounts import AccountVerbs
from shared.store.base import DEFAULT_TIMEOUT_S, OUTAGE_ERRORS, connect, dumps, new_token
from shared.store.beats import BeatVerbs
from shared.store.definitions import decode_definition
from shared.store.executions import ExecutionVerbs, Finish, Verdict
from shared.store.gauges import GaugeVerbs, StoreGauges
from shared.store.jobs import JobVerbs, LeaseOutcome, Step, Transition
from shared.store.keys import Keys
from shared.store.ledger import LedgerVerbs, Republished, RepublishOutcome, RepublishResult
from shared.store.native import NativeVerbs
from shared.store.outbox import OutboxVerbs
from shared.store.push import PushVerbs
from shared.store.ratelimits import Counter, Group, RateLimitVerbs, Tally
from shared.store.schedules import (
    ClaimedEntry,
    ClaimResult,
    Commit,
    CommitStatus,
    ScheduleVerbs,
)
from shared.store.tasks import TaskVerbs

__all__ = [
    "decode_definition",
    "ClaimResult",
    "ClaimedEntry",
    "Commit",
    "Counter",
    "CommitStatus",
    "DEFAULT_TIMEOUT_S",
    "OUTAGE_ERRORS",
    "Keys",
    "LeaseOutcome",
    "RepublishOutcome",
    "RepublishResult",
    "Republished",
    "Step",
    "Store",
    "StoreGauges",
    "Tally",
    "Transition",
    "Verdict",
    "Finish",
    "Group",
    "connect",
    "dumps",
    "new_token",
]


class Store(
    TaskVerbs,
    ScheduleVerbs,
    ExecutionVerbs,
    LedgerVerbs,
    AccountVerbs,
    PushVerbs,
    JobVerbs,
    GaugeVerbs,
    NativeVerbs,
    OutboxVerbs,
    RateLimitVerbs,
    BeatVerbs,
):
    """Symmetric verbs over the key schema. Holds no state besides the client and the scripts."""

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = "sched",
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        outage_retry_s: float = 0.0,
        outbox: bool = False,
        partitions: int = 1,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> Store:
        """The store on ``url`` (see ``base.connect``); ``outage_retry_s``: how long the
        writes a worker must not lose wait for an unreachable Redis (``patiently``);
        ``outbox``: the broker is apart (``Config.broker_is_apart``), publish to the outbox;
        ``partitions``: SCHEDULER_PARTITIONS (see ``shared.store.partitions``);
        ``wait_replicas``, ``wait_timeout_ms``: see ``StoreBase.replicated``."""
        return cls(
            connect(url, timeout_s),
            prefix,
            outage_retry_s,
            outbox=outbox,
            partitions=partitions,
            wait_replicas=wait_replicas,
            wait_timeout_ms=wait_timeout_ms,
        )

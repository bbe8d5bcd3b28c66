"""
The key schema: every key the service uses, each with its type and expiry, on one page:

======================  ======  ===============================================  ==================
key (``Keys`` method)   type    contents                                         expires
======================  ======  ===============================================  ==================
``due``                 ZSET    schedule id -> next fire (UTC ms), of schedules   never
                                stored before the buckets below (each moves to
                                one at its next fire or edit)
``due_bucket(n)``       ZSET    schedule id -> next fire (UTC ms): the due index  never
``+ due:buckets``,      ZSET    in buckets of at most 128 (compact listpack
``due:seq``,            STRING  sorted sets; a definition names its bucket), the
``due_count``           STRING  buckets by their earliest fire, how many were
                                given a bucket, how many the buckets hold
                                (``lua/lib/due_index.lua``)
``retries``             ZSET    execution id -> retry at (ms)                    never (drained)
``leases``              ZSET    claimed member -> lease expiry (ms)              never (drained)
``claims``              HASH    claimed member -> "token|kind|due ms|version"    never (drained)
``definitions``         HASH    schedule id -> "<version>.<due bucket>|<JSON>":   never
                                the edit counter, the bucket of the due index
                                that holds it, the short form of the ``Schedule``
                                (``shared.store.definitions``)
``versions``            HASH    schedule id -> edit counter, of definitions      never
                                stored before it moved into them (dropped when
                                next written)
``run_counts``          HASH    schedule id -> fires dispatched                  never
``retry_payloads``      HASH    execution id -> retry JSON                       never (drained)
``account_index(a, d)`` ZSET   schedule id -> created ms (strictly increasing),  never
                                per account+dialect: creation order (P > 1: x P,
                                unique across partitions: ``put_schedule.lua``);
                                since 2026-12 the root of the buckets below, a
                                ZSET itself only when stored before (read, not
                                added to)
``account_index(a, d)``  ZSET   bucket number -> its lowest order; and each      never
``+ :buckets``, ``:<n>``         bucket ``:<n>``: at most 128 of the index's
                                members (compact listpack sorted sets;
                                ``lua/lib/account_index.lua`` names them)
``account_index_count`` STRING  how many schedules the buckets hold              never
``history(s)``          LIST    run record JSON, newest first, capped            retention
``retired(s)``          STRING  a purged (done) schedule's JSON: who owns history retention
``account_runs(a)``     LIST    run record JSON of all an account's schedules,    retention
                                newest first, capped (the dashboard's recent runs)
``execution(e)``        STRING  "state|attempt[|deliveries]" of one execution   retention
                                (dedupe; deliveries bound a crash loop)
``published``           ZSET    execution id (or job lease check id) -> deadline never (drained)
                                (ms): published, not finished; published again
                                once the deadline passes (the ledger)
``published_messages``  HASH    the same id -> "copies|queue|message" (the last  never (drained)
                                copy published)
``overlap_running``     HASH    schedule id -> its execution not finished yet    never (drained)
                                (only schedules whose overlap is not allow_all)
``overlap_buffer(s)``   LIST    fires waiting for it, oldest first: JSON          never (drained)
                                ``[execution id, queue key, message]``
``dead_letters``        HASH    execution id -> dead letter JSON                 never
``dead_index``          ZSET    execution id -> died at (ms)                     never
``account_dead_index``  ZSET    execution id -> died at, per account+dialect      never
``accounts``            HASH    appkey -> account JSON (secrets hashed)          never
``account_keys``        HASH    "userkey:<sha256>" -> appkey, "apikey:<sha256>"  never
                                -> "<appkey>|<key id>" (API keys, by digest)
``api_keys(a)``         HASH    key id -> API key JSON (name, scopes, digest)    never
``idempotency(a, k)``   STRING  a POST's fingerprint and first answer (JSON),    24 h
                                by the SHA-256 of its Idempotency-Key
``outbox(q)``           LIST    Celery messages for queue q not yet relayed to   never (drained)
                                a broker apart (SCHEDULER_BROKER_URL), newest
                                first: written where the queue would be
``relay_lease``         STRING  the token of the beat relaying the outbox now    its lease (ms)
``beat_heartbeat``      STRING  last tick (ms), set by ``claim.lua``             60 s
``partition_count``     STRING  SCHEDULER_PARTITIONS, recorded at first start    never
``partition_owner``     STRING  the token of the beat holding this partition     its lease (ms)
                                (P > 1: ``partition_lease.lua``)
``beats``               ZSET    beat token -> lease expiry (ms): the live beats   never (pruned)
                                that share the partitions
``replication_mark(k)`` STRING  written before a WAIT, in the slot of key k      60 s
``wake_channel``        pubsub  next fire (ms) of a schedule just written        -
``push_devices(a)``     HASH    registration id -> device JSON (zone, tags)      never
``push_msg_ids(s)``     HASH    "<due ms>:<batch>" -> gateway msg_id             retention
``push_credentials``    HASH    appkey -> Fernet token of gateway credentials    never
``task_counters(a)``    HASH    "task", "item" -> last id issued (task ids)     never
``task_log(s)``         LIST    "<log id>|<entry JSON>", newest first, capped    retention
``task_log_seq(a)``     STRING  last task history log id issued, per account    never
``task_last_run``       HASH    schedule id -> start of its last run (ms)        never
``task_result(e)``      LIST    one run's outcome JSON, for an executeTask wait  minutes
``job_seq(a)``          STRING  last beacon job id issued, per account           never
``job(a, j)``           HASH    a beacon job: lifecycle fields + ``doc`` JSON    retention once done
``job_index(a)``        ZSET    job id -> job id, per account                    never (pruned)
``job_queue(a, b)``     ZSET    queued job id -> q_time (s), per account+beacon  never (drained)
``job_history(a, j)``   LIST    lifecycle event JSON, oldest first, capped       retention
``job_seen(a, j)``      SET     event ids already in the job's history           retention
``job_spawned(e)``      STRING  job id an execution of a scheduled job created   retention
``rate_limits`` + ...   STRING  a rate-limit window counter (``rate_limits.lua``) its window
``dashboard_session(d)`` STRING a dashboard session (JSON), by token digest      session lifetime
======================  ======  ===============================================  ==================

``rate_limits()`` is a prefix, not a key: each counter is named as the ``limits`` package names
it, ``LIMITER/<what>/<who>/<amount>/<multiples>/<granularity>``, after it, and expires with its
window; ``rate_limits.lua`` checks and counts one request's counters at once (see
scheduler_api/ratelimit.py).

Every engine key carries the hash tag ``{<partition>}`` of its partition (``SCHEDULER_PARTITIONS``,
P; a schedule's by a hash of its id, see ``shared.store.partitions``), so each script
touches one Redis Cluster slot; Celery's queue lists (kombu's, named after the queue) are the one
exception, written by ``commit.lua`` in the same atomic step as the schedule's advance. With a
broker apart, ``publish_target(q)`` is the partition's ``outbox(q)`` instead, so every script
that publishes writes there (same step, same slot) and the relay moves it to the broker.

On Redis Cluster (``REDIS_URL=redis+cluster://``) the broker is always apart, so no script
touches a queue, and the keys outside the engine (``accounts``, ``account_keys``, ``api_keys``,
``idempotency``, the rate-limit counters, ``dashboard_session``, ``push_credentials``,
``partition_count``, ``beats``, the wake channel) go under the tag ``{global}``
(``sched:{global}:accounts``): each script and MULTI then touches one slot. On one Redis they
keep their untagged names (``sched:accounts``), so data stored before reads as it is: no
migration. Moving a running store from one Redis onto a cluster has
no command yet (an account's schedules move with its backup and ``scheduler restore``).

The beat's idle tick is one ``claim.lua`` call: ``ZRANGEBYSCORE`` on the due index's buckets by
their earliest fire costs O(log N) and the script also answers when the next thing is due.
"""

from __future__ import annotations


class Keys:
    """The key schema. One method per key; see the table in this module's docstring."""

    def __init__(
        self,
        prefix: str = "sched",
        partition: str = "0",
        outbox: bool = False,
        cluster: bool = False,
    ) -> None:
        self.base = f"{prefix}:{{{partition}}}"
        self.prefix = prefix
        # The keys outside the engine: on a cluster, under one tag of their own (rate_limits.lua
        # reads accounts with the counters; accounts and key digests change in one MULTI); on
        # one Redis, untagged, the names they always had (stored data reads as before).
        self.global_base = f"{prefix}:{{global}}" if cluster else prefix
        self.outbox_on = outbox

    def publish_target(self, queue: str) -> str:
        """Where a script publishes a message for ``queue``: kombu's list of that queue when the
        broker is the store's Redis, else the partition's outbox of it (see ``outbox``)."""
        return self.outbox(queue) if self.outbox_on else self.queue(queue)

    def outbox(self, queue: str) -> str:
        """Messages for ``queue`` waiting for the relay (a broker apart), newest first."""
        return f"{self.base}:outbox:{queue}"

    def relay_lease(self) -> str:
        """The relaying beat's token, expiring with its lease (see ``relay.lua``)."""
        return f"{self.base}:relay_lease"

    def replication_mark(self, near: str) -> str:
        """A STRING in the slot of ``near`` (its hash tag), written just before a WAIT
        (``StoreBase.replicated``): WAIT covers what its own connection wrote."""
        start = near.find("{")
        end = near.find("}", start)
        tag = near[start : end + 1] if 0 <= start < end else ""
        return f"{self.prefix}:{tag}:replicated"

    def due(self) -> str:
        return f"{self.base}:due"

    def due_bucket(self, bucket: str) -> str:
        return f"{self.due()}:{bucket}"

    def due_count(self) -> str:
        return f"{self.due()}:count"

    def retries(self) -> str:
        return f"{self.base}:retries"

    def leases(self) -> str:
        return f"{self.base}:leases"

    def claims(self) -> str:
        return f"{self.base}:claims"

    def definitions(self) -> str:
        return f"{self.base}:definitions"

    def versions(self) -> str:
        return f"{self.base}:versions"

    def run_counts(self) -> str:
        return f"{self.base}:run_counts"

    def retry_payloads(self) -> str:
        return f"{self.base}:retry_payloads"

    def account_index(self, account: str, dialect: str) -> str:
        """An account's schedules of one dialect: each API lists (and counts) only its own."""
        return f"{self.base}:account:{account}:{dialect}"

    def account_index_count(self, account: str, dialect: str) -> str:
        """How many schedules an index's buckets hold (``lua/lib/account_index.lua``)."""
        return f"{self.account_index(account, dialect)}:count"

    def history(self, schedule_id: str) -> str:
        return f"{self.base}:history:{schedule_id}"

    def retired(self, schedule_id: str) -> str:
        """A definition purged after its last fire, kept as long as its history."""
        return f"{self.base}:retired:{schedule_id}"

    def account_runs(self, account: str) -> str:
        """An account's latest run records, whatever the schedule (purged ones included)."""
        return f"{self.base}:account_runs:{account}"

    def execution(self, execution_id: str) -> str:
        return f"{self.base}:execution:{execution_id}"

    def published(self) -> str:
        """The ledger of published executions: each until it finishes, scored by when it must
        have been begun (then: finished) or is published again."""
        return f"{self.base}:published"

    def published_messages(self) -> str:
        """The message of each execution in ``published``, to publish it again as it was."""
        return f"{self.base}:published_messages"

    def overlap_running(self) -> str:
        """The execution each overlap-governed schedule waits on (set by ``commit.lua`` when it
        publishes a fire, released by ``finish_execution.lua`` when that execution ends)."""
        return f"{self.base}:overlap:running"

    def overlap_buffer(self, schedule_id: str) -> str:
        """A schedule's fires waiting for its running execution to end (buffer_one, buffer_all)."""
        return f"{self.base}:overlap:buffer:{schedule_id}"

    def dead_letters(self) -> str:
        return f"{self.base}:dead_letters"

    def dead_index(self) -> str:
        return f"{self.base}:dead_index"

    def account_dead_index(self, account: str, dialect: str) -> str:
        """An account's dead letters of one dialect (the API and dashboard list these)."""
        return f"{self.base}:dead:{account}:{dialect}"

    def accounts(self) -> str:
        return f"{self.global_base}:accounts"

    def account_keys(self) -> str:
        return f"{self.global_base}:account_keys"

    def api_keys(self, account: str) -> str:
        """An account's named API keys (the native API's Bearer credentials), stored hashed."""
        return f"{self.global_base}:api_keys:{account}"

    def idempotency(self, account: str, key_digest: str) -> str:
        """The first answer to an account's POST with one Idempotency-Key (by its digest)."""
        return f"{self.global_base}:idempotency:{account}:{key_digest}"

    def partition_count(self) -> str:
        """The partition count the data was stored with (``StoreBase.check_partitions``)."""
        return f"{self.global_base}:partitions"

    def partition_owner(self) -> str:
        """Which beat claims this partition now (P > 1), expiring with its lease."""
        return f"{self.base}:owner"

    def beats(self) -> str:
        """The live beats, each with its lease's end: how many share the partitions."""
        return f"{self.global_base}:beats"

    def beat_heartbeat(self) -> str:
        return f"{self.base}:beat_heartbeat"

    def wake_channel(self) -> str:
        return f"{self.global_base}:wake"

    # --- push schedules (/v4/schedules) ---------------------------------------------------

    def push_devices(self, account: str) -> str:
        """An account's device registry (the zones, tags and alias of registration ids)."""
        return f"{self.base}:push:devices:{account}"

    def push_msg_ids(self, schedule_id: str) -> str:
        """The gateway's msg_id of each push a schedule sent, by "<due ms>:<batch>"."""
        return f"{self.base}:push:msg_ids:{schedule_id}"

    def push_credentials(self) -> str:
        return f"{self.global_base}:push_credentials"

    # --- task scheduler (/api/v1/api.php) -------------------------------------------------

    def task_counters(self, account: str) -> str:
        """The last task id and repeat-item id issued to an account (the document's numbers)."""
        return f"{self.base}:tasks:counters:{account}"

    def task_log(self, schedule_id: str) -> str:
        """A task's history (added, updated, started, finished, failed), newest first."""
        return f"{self.base}:tasks:log:{schedule_id}"

    def task_log_seq(self, account: str) -> str:
        """The last log id issued to an account: per account, so another account's activity
        never shows in the ids one account sees."""
        return f"{self.base}:tasks:log_seq:{account}"

    def task_last_run(self) -> str:
        return f"{self.base}:tasks:last_run"

    def task_result(self, execution_id: str) -> str:
        """The outcome of one run, pushed by the worker for an ``executeTask`` waiting on it."""
        return f"{self.base}:tasks:result:{execution_id}"

    # --- beacon jobs (/api/jobs) ----------------------------------------------------------

    def job_seq(self, account: str) -> str:
        """The last beacon job id issued to an account. Job ids are per account (as task ids
        are): a global sequence would show each account how busy the others are."""
        return f"{self.base}:jobs:seq:{account}"

    def job(self, account: str, job_id: int | str) -> str:
        """One beacon job: its lifecycle fields, and its fixed fields as one JSON ``doc``."""
        return f"{self.base}:jobs:job:{account}:{job_id}"

    def job_index(self, account: str) -> str:
        return f"{self.base}:jobs:account:{account}"

    def job_queue(self, account: str, beacon: str) -> str:
        """An account's queued jobs for one beacon, scored by ``q_time`` (unix seconds)."""
        return f"{self.base}:jobs:queued:{account}:{beacon}"

    def job_history(self, account: str, job_id: int | str) -> str:
        return f"{self.base}:jobs:history:{account}:{job_id}"

    def job_seen(self, account: str, job_id: int | str) -> str:
        """Ids of the lifecycle events already written (a redelivered event is not)."""
        return f"{self.base}:jobs:history_seen:{account}:{job_id}"

    def job_spawned(self, execution_id: str) -> str:
        """The job instance a scheduled job's fire created (a redelivered fire creates none)."""
        return f"{self.base}:jobs:spawned:{execution_id}"

    def rate_limits(self) -> str:
        """Prefix of the API's rate-limit window counters (not engine keys; on a cluster under
        the tag of ``accounts``, since ``rate_limits.lua`` touches both at once)."""
        return f"{self.global_base}:ratelimit"

    # --- dashboard ------------------------------------------------------------------------

    def dashboard_session(self, token_digest: str) -> str:
        """A signed-in dashboard session, by the SHA-256 of its cookie's token (so the store
        holds no token a browser could replay)."""
        return f"{self.global_base}:dashboard_session:{token_digest}"

    @staticmethod
    def queue(name: str) -> str:
        """kombu's Redis transport keeps a queue's messages in a list named after the queue."""
        return name

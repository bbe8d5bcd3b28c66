"""A job as a core ``Schedule`` with a webhook target, and back."""

from __future__ import annotations

from typing import Any

from scheduler_api.adapter import DialectError, store
from scheduler_api.webhook_jobs.render import DIALECT
from scheduler_api.webhook_jobs.schemas import MAX_DATA_BYTES
from shared import schedules
from shared.contract import TargetKind
from shared.errors import NotFound
from shared.header_values import check_header_value
from shared.model import CronTrigger, OnceTrigger, Schedule, Target
from shared.timing import min_gap_ms, parse_iso8601

MIN_CRON_GAP_MS = 10 * 60 * 1000


def build_job(doc: dict[str, Any], account: dict[str, Any], job_id: str, now_ms: int) -> Schedule:
    data = doc.get("data")
    size = len(data.encode(errors="surrogatepass")) if data is not None else 0  # core: Unicode
    if size > MAX_DATA_BYTES:
        raise DialectError(400, f"data: {size} bytes; at most {MAX_DATA_BYTES}")
    for name in ("contentType", "signature"):  # the core checks them too, by its own names
        if doc.get(name) is not None:
            check_header_value(name, doc[name])
    spec = {  # the url is checked by the core (shared.netguard), on create and on replace
        "url": doc["url"],
        "data": data,
        "content_type": doc.get("contentType"),
        "signature": doc.get("signature"),
    }
    return Schedule(
        id=job_id,
        account=account["appkey"],
        dialect=DIALECT,
        trigger=trigger_of(doc, now_ms),
        target=Target(TargetKind.WEBHOOK, {k: v for k, v in spec.items() if v is not None}),
        created_ms=now_ms,
        purge_when_done=True,
        doc={k: doc[k] for k in ("when", "cron") if k in doc},
    )


def trigger_of(doc: dict[str, Any], now_ms: int) -> OnceTrigger | CronTrigger:
    if "when" in doc:
        at_ms = parse_iso8601(doc["when"], "when")
        if at_ms <= now_ms:
            raise DialectError(400, f"when: {doc['when']} is not in the future")
        return OnceTrigger(at_ms=at_ms)
    trigger = CronTrigger(expr=doc["cron"].strip(), timezone="UTC")
    gap = min_gap_ms(trigger, now_ms)
    if gap is not None and gap < MIN_CRON_GAP_MS:
        raise DialectError(
            400,
            f"cron: {trigger.expr!r} fires {gap // 1000} s apart at times; "
            "a job may fire at most once every ten minutes",
        )
    return trigger


def find(account: dict[str, Any], job_id: str, include_retired: bool = False) -> Schedule:
    try:
        return schedules.get(
            store(), account["appkey"], job_id, DIALECT, include_retired=include_retired
        )
    except NotFound:
        raise DialectError(404, f"no job {job_id!r}") from None

"""The calendar rules of a task stored through /api/v1/api.php?target=scheduler: the document's
weekday example across a DST change, and week-of-month rules in the account's zone."""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from pathlib import Path

from shared.store import Store
from shared.timing import iter_fires, parse_iso8601, zone
from tests.test_task_scheduler_api import (  # noqa: F401  (api is a fixture)
    TaskApi,
    api,
    app_config,
    new_account,
    schedule_id,
)


def test_the_documents_weekday_rule_fires_thu_to_sun_at_20_local_across_dst(
    api: TaskApi,  # noqa: F811 (the fixture imported above)
    store: Store,
    tmp_path: Path,
    clean_redis: str,
) -> None:
    config = app_config(clean_redis, tmp_path)
    ny = TaskApi(api.client, new_account(store, config, "ny", "America/New_York"))
    task = ny.add()
    stored = store.get_schedule(schedule_id(ny, task["id"]))
    assert stored is not None
    tz = zone("America/New_York")
    after = parse_iso8601("2026-03-01T00:00:00-05:00")  # DST starts Sunday 2026-03-08
    fires = islice(iter_fires(stored.trigger, after), 12)
    first = [datetime.fromtimestamp(ms / 1000, tz) for ms in fires]
    assert [f.strftime("%a %d %H:%M") for f in first] == [
        "Sun 01 20:00",
        "Thu 05 20:00",
        "Fri 06 20:00",
        "Sat 07 20:00",
        "Sun 08 20:00",
        "Thu 12 20:00",
        "Fri 13 20:00",
        "Sat 14 20:00",
        "Sun 15 20:00",
        "Thu 19 20:00",
        "Fri 20 20:00",
        "Sat 21 20:00",
    ]
    offsets = [f.utcoffset().total_seconds() / 3600 for f in first]  # type: ignore[union-attr]
    assert offsets[:4] == [-5] * 4 and offsets[4:] == [-4] * 8  # 01:00 UTC, then 00:00 UTC


def test_week_of_month_and_day_rules_use_the_accounts_zone(
    api: TaskApi,  # noqa: F811 (the fixture imported above)
    store: Store,
) -> None:
    # week 2 + weekday 2: the second Tuesday, 09:30 in Chicago
    task = api.add(
        repeat_items=[
            {"repeat_week": 2, "repeat_weekday": 2, "repeat_hour": 9, "repeat_minute": 30}
        ]
    )
    stored = store.get_schedule(schedule_id(api, task["id"]))
    assert stored is not None
    after = parse_iso8601("2026-01-01T00:00:00Z")
    fires = iter_fires(stored.trigger, after)
    got = [datetime.fromtimestamp(next(fires) / 1000, zone("America/Chicago")) for _ in range(3)]
    assert [f.strftime("%Y-%m-%d %H:%M %a") for f in got] == [
        "2026-01-13 09:30 Tue",
        "2026-02-10 09:30 Tue",
        "2026-03-10 09:30 Tue",
    ]

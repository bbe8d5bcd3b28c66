"""``scheduler schedules ...`` and ``scheduler dead-letters ...``: the core, from a terminal.

Handy to try the engine without any API dialect: store a webhook schedule, watch it fire, read
its history, list and redrive dead letters.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from shared import schedules
from shared.config import Config
from shared.contract import TargetKind
from shared.errors import NotFound
from shared.model import CronTrigger, OnceTrigger, Schedule, Target, Trigger
from shared.redis_url import resolve_redis_url
from shared.store import Store
from shared.timing import format_iso_utc, now_ms, parse_iso8601


def open_store(config: Config) -> Store:
    return Store.from_url(resolve_redis_url(config), config.key_prefix)


def trigger_from_args(args: argparse.Namespace, account: dict[str, Any]) -> Trigger:
    if args.cron:
        return CronTrigger(expr=args.cron, timezone=args.timezone or account["timezone"])
    if args.at:
        return OnceTrigger(at_ms=parse_iso8601(args.at, "--at"))
    return OnceTrigger(at_ms=now_ms() + int(args.in_seconds * 1000))


def cmd_add_webhook(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    account = store.get_account(args.account)
    if account is None:
        raise NotFound(f"no account {args.account!r}: create one with `scheduler accounts create`")
    schedule = Schedule(
        id=uuid.uuid4().hex,
        account=args.account,
        dialect="cli",
        trigger=trigger_from_args(args, account),
        target=Target(
            TargetKind.WEBHOOK, {"url": args.url, "data": args.data, "content_type": args.type}
        ),
        created_ms=now_ms(),
    )
    next_ms = schedules.create(store, config, schedule, now_ms=schedule.created_ms)
    print(json.dumps({"id": schedule.id, "next": next_ms and format_iso_utc(next_ms)}))
    return 0


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    schedule = schedules.get(store, args.account, args.id)
    next_ms = store.next_fire_ms(schedule.id)
    runs = [run.to_dict() for run in store.history(schedule.id, args.runs)]
    shown = {
        "schedule": schedule.to_dict(),
        "next": next_ms and format_iso_utc(next_ms),
        "fired": store.run_count(schedule.id),
        "runs": runs,
    }
    print(json.dumps(shown, indent=2))
    return 0


def cmd_dead_list(args: argparse.Namespace, config: Config) -> int:
    for letter in open_store(config).dead_letters(0, args.limit):
        died = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(letter["died_ms"] / 1000))
        print(f"{letter['execution']['id']}  {died} UTC  {letter.get('error')}")
    return 0


def cmd_dead_redrive(args: argparse.Namespace, config: Config) -> int:
    schedules.redrive(open_store(config), args.execution_id, now_ms=now_ms())
    print(f"redriven: {args.execution_id}")
    return 0


def add_commands(sub: Any) -> None:
    group = sub.add_parser("schedules", help="store and inspect schedules through the core")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = verbs.add_parser("add-webhook", help="store a webhook schedule")
    add.add_argument("--account", required=True, help="the account's appkey")
    add.add_argument("--url", required=True, help="callback URL (POSTed at each fire)")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", help="one fire at this ISO 8601 instant")
    when.add_argument("--in", dest="in_seconds", type=float, help="one fire in this many seconds")
    when.add_argument("--cron", help="cron expression (5-field Unix or 6/7-field Quartz)")
    add.add_argument("--timezone", help="zone of --cron (default: the account's)")
    add.add_argument("--data", default="", help="request body")
    add.add_argument("--type", default="application/json", help="body content type")
    add.set_defaults(func=cmd_add_webhook)
    show = verbs.add_parser("show", help="a schedule, its next fire and its run history")
    show.add_argument("id")
    show.add_argument("--account", required=True, help="the account's appkey")
    show.add_argument("--runs", type=int, default=20, help="how many run records")
    show.set_defaults(func=cmd_show)

    dead = sub.add_parser("dead-letters", help="list and redrive executions that gave up")
    dverbs = dead.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = dverbs.add_parser("list", help="newest first")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_dead_list)
    redrive = dverbs.add_parser("redrive", help="run a dead execution again, from attempt 1")
    redrive.add_argument("execution_id")
    redrive.set_defaults(func=cmd_dead_redrive)

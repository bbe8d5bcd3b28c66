"""``scheduler schedules ...``: every schedule of an account, whatever API made it, through the
core verbs of ``shared.schedules`` (the rules live there once; nothing here re-checks them).

A schedule is named by its id; ``--account`` (appkey or name) is optional and, when given, the
schedule must be that account's.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from scheduler_cli.common import (
    add_account,
    add_json,
    delay_seconds,
    find_account,
    open_store,
    positive_int,
)
from scheduler_cli.output import (
    duration,
    iso_utc,
    local_time,
    print_fields,
    print_json,
    print_table,
)
from scheduler_cli.views import (
    RUN_COLUMNS,
    SCHEDULE_COLUMNS,
    STATES,
    ScheduleFacts,
    describe_target,
    run_json,
    run_row,
)
from shared import schedules
from shared.config import Config
from shared.contract import DIALECTS, DialectName, TargetKind
from shared.describe import describe_policies
from shared.model import CronTrigger, OnceTrigger, Schedule, Target, Trigger
from shared.store import Store
from shared.timing import now_ms, parse_iso8601

CLI_DIALECT = DialectName.CLI  # schedules made by `schedules add-webhook`
NO_SCHEDULES = "no schedules: make one with `scheduler schedules add-webhook` or any API"


def find_schedule(store: Store, args: argparse.Namespace, retired: bool = False) -> Schedule:
    """The schedule ``args.id``, of ``args.account`` when given (else of its own account);
    ``retired`` also finds one purged after its last fire (its history outlives it)."""
    if args.account:
        owner = find_account(store, args.account)["appkey"]
    else:
        found = store.get_schedule(args.id)
        if found is None and retired:
            found = store.retired_schedule(args.id)
        owner = found.account if found else ""
    return schedules.get(store, owner, args.id, include_retired=retired)


# --- reading ---------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    owners = [find_account(store, args.account)] if args.account else store.list_accounts()
    owned = [
        schedule
        for account in sorted(owners, key=lambda a: a.get("created_ms", 0))
        for schedule in schedules.list_all(store, account["appkey"])
    ]
    facts = [
        fact
        for fact in ScheduleFacts.read(store, owned)
        if args.state in (None, fact.state) and args.api in (None, fact.schedule.dialect)
    ]
    if args.json:
        print_json([fact.json_row() for fact in facts])
        return 0
    columns = SCHEDULE_COLUMNS if args.account else {"account": "ACCOUNT", **SCHEDULE_COLUMNS}
    names = {a["appkey"]: a.get("name", "") for a in owners}
    rows = [{**f.table_row(), "account": names[f.schedule.account]} for f in facts]
    print_table(rows, columns, NO_SCHEDULES)
    return 0


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    facts = ScheduleFacts.of(store, find_schedule(store, args, retired=True))
    runs = store.history(facts.schedule.id, args.runs)
    if args.json:
        print_json({**facts.json_row(), "runs": [run_json(run) for run in runs]})
        return 0
    row = facts.table_row()
    account = store.get_account(facts.schedule.account) or {}
    print_fields(
        {
            **{SCHEDULE_COLUMNS[key].lower(): value for key, value in row.items()},
            "name": facts.name,  # in full here, not cut to a column's width
            "target": describe_target(facts.schedule, width=2000),
            "account": f"{account.get('name', '')} ({facts.schedule.account})",
            "created": local_time(facts.schedule.created_ms),
            "fired": facts.fired,
            "policies": describe_policies(facts.schedule) or "defaults",
        }
    )
    print()
    print_table([run_row(run) for run in runs], RUN_COLUMNS, "no runs yet")
    return 0


def cmd_runs(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    schedule = find_schedule(store, args, retired=True)
    runs = store.history(schedule.id, args.limit)
    if args.json:
        print_json([run_json(run) for run in runs])
        return 0
    print_table([run_row(run) for run in runs], RUN_COLUMNS, "no runs yet")
    return 0


def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    schedule = find_schedule(store, args)
    at_ms = now_ms()
    fires = schedules.preview(schedule, at_ms, args.count, store.run_count(schedule.id))
    if args.json:
        print_json({"id": schedule.id, "fires": [iso_utc(fire) for fire in fires]})
        return 0
    rows = [{"at": local_time(fire), "in": duration(fire - at_ms)} for fire in fires]
    print_table(rows, {"at": "FIRES AT", "in": "IN"}, "no future fires")
    return 0


# --- changing --------------------------------------------------------------------------------


def cmd_pause(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    schedule = schedules.pause(store, find_schedule(store, args).account, args.id)
    return report(args, store, schedule, "paused")


def cmd_resume(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    owner = find_schedule(store, args).account
    schedules.resume(store, owner, args.id, now_ms=now_ms())
    return report(args, store, schedules.get(store, owner, args.id), "resumed")


def cmd_delete(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    schedule = schedules.delete(store, find_schedule(store, args).account, args.id)
    if args.json:
        print_json({"id": schedule.id, "deleted": True})
    else:
        print(f"Schedule {schedule.id} deleted (its run history stays until it expires).")
    return 0


def cmd_trigger(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    schedule = find_schedule(store, args)
    context = {"by": "scheduler schedules trigger"}
    execution = schedules.run_now(store, config, schedule, now_ms(), context)
    if args.json:
        print_json({"id": schedule.id, "execution": execution, "queue": schedule.target.queue})
    else:
        print(f"Schedule {schedule.id} runs now: execution {execution} on {schedule.target.queue}")
    return 0


def report(args: argparse.Namespace, store: Store, schedule: Schedule, done: str) -> int:
    facts = ScheduleFacts.of(store, schedule)
    if args.json:
        print_json({"id": schedule.id, "state": facts.state, "next": iso_utc(facts.next_ms)})
    else:
        print(f"Schedule {schedule.id} {done}: next fire {local_time(facts.next_ms) or 'none'}")
    return 0


# --- add-webhook -----------------------------------------------------------------------------


def trigger_from_args(args: argparse.Namespace, account: dict[str, Any]) -> Trigger:
    if args.cron:
        return CronTrigger(expr=args.cron, timezone=args.timezone or account["timezone"])
    if args.at:
        return OnceTrigger(at_ms=parse_iso8601(args.at, "--at"))
    return OnceTrigger(at_ms=now_ms() + int(args.in_seconds * 1000))


def cmd_add_webhook(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    account = find_account(store, args.account)
    schedule = Schedule(
        id=uuid.uuid4().hex,
        account=account["appkey"],
        dialect=CLI_DIALECT,
        trigger=trigger_from_args(args, account),
        target=Target(
            TargetKind.WEBHOOK, {"url": args.url, "data": args.data, "content_type": args.type}
        ),
        created_ms=now_ms(),
        doc={"name": args.name} if args.name else {},
    )
    next_ms = schedules.create(store, config, schedule, now_ms=schedule.created_ms)
    if args.json:
        print_json({"id": schedule.id, "next": iso_utc(next_ms)})
    else:
        print(f"Schedule {schedule.id} created: next fire {local_time(next_ms)}")
    return 0


# --- the command line ------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    group = sub.add_parser("schedules", help="list, inspect and change the schedules of accounts")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, func: Any, help: str, by_id: bool = True) -> argparse.ArgumentParser:
        command = verbs.add_parser(name, help=help, description=help)
        if by_id:
            command.add_argument("id", help="the schedule's id")
            add_account(command, "; if given, the schedule must be this account's")
        add_json(command)
        command.set_defaults(func=func)
        return command

    listing = verb("list", cmd_list, "every schedule of an account, whatever API made it", False)
    add_account(listing, "; default: every account's")
    listing.add_argument("--state", choices=STATES, help="only those in this state")
    listing.add_argument("--api", choices=DIALECTS, help="only those this API made")
    show = verb("show", cmd_show, "a schedule, its state, next fire and latest runs")
    show.add_argument(
        "--runs", type=positive_int, default=10, help="how many runs to show (default 10)"
    )
    runs = verb("runs", cmd_runs, "a schedule's run history, newest first (kept after it ends)")
    runs.add_argument("--limit", type=positive_int, default=50, help="how many runs (default 50)")
    preview = verb("preview", cmd_preview, "the next fires of a schedule (paused: once resumed)")
    preview.add_argument(
        "--count", type=positive_int, default=10, help="how many fires (default 10)"
    )
    verb("pause", cmd_pause, "stop a schedule firing (definition and history stay)")
    verb("resume", cmd_resume, "let a paused schedule fire again, from now on")
    verb("trigger", cmd_trigger, "run a schedule once now, outside its trigger")
    verb("delete", cmd_delete, "delete a schedule")
    add = verb("add-webhook", cmd_add_webhook, "store a webhook schedule", False)
    add_account(add, "", required=True)
    add_webhook_arguments(add)


def add_webhook_arguments(add: argparse.ArgumentParser) -> None:
    add.add_argument("--url", required=True, help="callback URL (POSTed at each fire)")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", help="one fire at this ISO 8601 instant")
    when.add_argument(
        "--in", dest="in_seconds", type=delay_seconds, help="one fire in this many seconds"
    )
    when.add_argument("--cron", help="cron expression (5-field Unix or 6/7-field Quartz)")
    add.add_argument("--timezone", help="zone of --cron (default: the account's)")
    add.add_argument("--name", help="a name to tell it by in lists")
    add.add_argument("--data", default="", help="request body")
    add.add_argument("--type", default="application/json", help="body content type")

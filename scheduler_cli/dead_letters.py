"""``scheduler dead-letters ...``: executions that gave up, of every account or one; send one
back for a fresh series of attempts, or drop it for good (core verbs of ``shared.schedules``)."""

from __future__ import annotations

import argparse
from typing import Any

from scheduler_cli.common import add_json, find_account, open_store, positive_int
from scheduler_cli.output import print_json, print_table
from scheduler_cli.views import DEAD_LETTER_COLUMNS, dead_letter_json, dead_letter_row
from shared import schedules
from shared.config import Config
from shared.contract import DIALECTS
from shared.store import Store
from shared.timing import now_ms


def letters_of(store: Store, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The newest ``args.limit`` dead letters: of every account, or of ``args.account``'s
    schedules whatever API made them."""
    if not args.account:
        return store.dead_letters(0, args.limit)
    appkey = find_account(store, args.account)["appkey"]
    letters = [
        letter
        for dialect in DIALECTS
        for letter in store.dead_letters(0, args.limit, owner=(appkey, dialect))
    ]
    letters.sort(key=lambda letter: letter.get("died_ms", 0), reverse=True)
    return letters[: args.limit]


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    letters = letters_of(store, args)
    if args.json:
        print_json([dead_letter_json(letter) for letter in letters])
        return 0
    names = {a["appkey"]: a.get("name", "") for a in store.list_accounts()}
    rows = [dead_letter_row(letter, names) for letter in letters]
    print_table(rows, DEAD_LETTER_COLUMNS, "no dead letters")
    return 0


def cmd_redrive(args: argparse.Namespace, config: Config) -> int:
    schedules.redrive(open_store(config), args.execution_id, now_ms=now_ms())
    return done(args, "redriven", "sent back for a fresh series of attempts, from attempt 1")


def cmd_delete(args: argparse.Namespace, config: Config) -> int:
    schedules.discard_dead_letter(open_store(config), args.execution_id)
    return done(args, "deleted", "deleted for good")


def done(args: argparse.Namespace, what: str, sentence: str) -> int:
    if args.json:
        print_json({"execution": args.execution_id, what: True})
    else:
        print(f"Dead letter {args.execution_id} {sentence}.")
    return 0


def add_commands(sub: Any) -> None:
    dead = sub.add_parser("dead-letters", help="list, redrive and delete executions that gave up")
    verbs = dead.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="dead letters, newest first")
    listing.add_argument("--account", help="only this account's (appkey or name)")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most (default 50)")
    listing.set_defaults(func=cmd_list)
    add_json(listing)
    for name, func, help in (
        ("redrive", cmd_redrive, "run a dead execution again, from attempt 1"),
        ("delete", cmd_delete, "drop a dead letter for good"),
    ):
        command = verbs.add_parser(name, help=help, description=help)
        command.add_argument("execution_id")
        add_json(command)
        command.set_defaults(func=func)

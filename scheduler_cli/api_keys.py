"""``scheduler api-keys ...``: an account's named API keys for the native API (``/v1``), each
with its scopes (core verbs of ``shared.api_keys``). A key is printed once, when made."""

from __future__ import annotations

import argparse
from typing import Any

from scheduler_cli.common import add_json, find_account, open_store
from scheduler_cli.output import iso_utc, local_time, print_fields, print_json, print_table
from shared import api_keys
from shared.config import Config
from shared.timing import now_ms

COLUMNS = {"id": "ID", "name": "NAME", "prefix": "PREFIX", "scopes": "SCOPES", "created": "CREATED"}


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    keys = api_keys.list_api_keys(store, find_account(store, args.account)["appkey"])
    if args.json:
        print_json([{**key, "created": iso_utc(key.get("created_ms"))} for key in keys])
        return 0
    rows = [
        {**key, "scopes": " ".join(key["scopes"]), "created": local_time(key.get("created_ms"))}
        for key in keys
    ]
    print_table(rows, COLUMNS, "no API keys: scheduler api-keys create ACCOUNT NAME --scope ...")
    return 0


def cmd_create(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    appkey = find_account(store, args.account)["appkey"]
    scopes = args.scope or list(api_keys.SCOPES)
    record, token = api_keys.create_api_key(store, appkey, args.name, scopes, now_ms=now_ms())
    if args.json:
        print_json({**record, "key": token})
        return 0
    print("API key created. Shown once and stored nowhere in clear: keep it now.")
    print_fields({"id": record["id"], "key": token, "scopes": " ".join(record["scopes"])})
    return 0


def cmd_delete(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    api_keys.delete_api_key(store, find_account(store, args.account)["appkey"], args.key_id)
    if args.json:
        print_json({"id": args.key_id, "deleted": True})
    else:
        print(f"API key {args.key_id} deleted: it no longer authenticates.")
    return 0


def add_commands(sub: Any) -> None:
    group = sub.add_parser("api-keys", help="an account's API keys for the native API (/v1)")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    commands = {}
    for name, func, help in (
        ("list", cmd_list, "the account's keys (never the keys themselves)"),
        ("create", cmd_create, "make a named key with scopes; prints it once"),
        ("delete", cmd_delete, "delete a key: it stops authenticating at once"),
    ):
        command = verbs.add_parser(name, help=help, description=help)
        command.add_argument("account", help="the account's appkey or name")
        add_json(command)
        command.set_defaults(func=func)
        commands[name] = command
    commands["create"].add_argument("name", help="what the key is for")
    commands["create"].add_argument(
        "--scope",
        action="append",
        choices=api_keys.SCOPES,
        help="a scope the key holds (repeat for more; default: every scope)",
    )
    commands["delete"].add_argument("key_id", help="the key's id (from `api-keys list`)")

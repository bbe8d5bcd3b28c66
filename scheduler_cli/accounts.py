"""``scheduler accounts ...``: create, list, rotate the webhook signing secret, reset the master
secret. Secrets are printed once, when made; nothing here prints a stored digest."""

from __future__ import annotations

import argparse
from typing import Any

from scheduler_cli.common import add_json, find_account, open_store
from scheduler_cli.output import (
    iso_utc,
    local_time,
    print_fields,
    print_json,
    print_table,
)
from shared import accounts
from shared.config import Config
from shared.store import Store
from shared.timing import now_ms

# What `accounts list` may show: everything else in a stored account is a digest of a secret.
PUBLIC_ACCOUNT_FIELDS = ("name", "appkey", "timezone", "created_ms", "webhook_secret_generation")
SHOWN_ONCE = "Shown once and stored nowhere in clear: keep it now."


def cmd_create(args: argparse.Namespace, config: Config) -> int:
    accounts.valid_timezone(args.timezone)  # before touching Redis: a typo needs no server
    store = open_store(config)
    key = accounts.load_secret_key(config)
    creds = accounts.create_account(
        store, args.name, args.timezone, secret_key=key, now_ms=now_ms()
    )
    if args.json:
        print_json({"name": args.name, "timezone": args.timezone, **creds})
        return 0
    print(f"Account {args.name!r} created (time zone {args.timezone}).")
    print("These credentials are shown once and stored nowhere in clear: keep them now.")
    for field, value in creds.items():
        print(f"  {field:<15} {value}")
    return 0


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    stored = sorted(open_store(config).list_accounts(), key=lambda a: a.get("created_ms", 0))
    public = [{k: a[k] for k in PUBLIC_ACCOUNT_FIELDS if k in a} for a in stored]
    if args.json:
        print_json([{**a, "created": iso_utc(a.get("created_ms"))} for a in public])
        return 0
    rows = [{**a, "created": local_time(a.get("created_ms"))} for a in public]
    columns = {"appkey": "APPKEY", "name": "NAME", "timezone": "TIME ZONE", "created": "CREATED"}
    print_table(rows, columns, "no accounts yet: scheduler accounts create NAME")
    return 0


def cmd_rotate_secret(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    account = find_account(store, args.account)
    at_ms = now_ms()
    secret = accounts.rotate_webhook_secret(
        store, account["appkey"], accounts.load_secret_key(config), now_ms=at_ms
    )
    rotated = accounts_after(store, account["appkey"])
    until_ms = rotated.get("webhook_previous_secret_until_ms")
    if args.json:
        print_json(
            {
                "appkey": account["appkey"],
                "webhook_secret": secret,
                "generation": rotated["webhook_secret_generation"],
                "previous_secret_signs_until": iso_utc(until_ms),
            }
        )
        return 0
    print(f"Webhook signing secret of {account['name']!r} rotated. {SHOWN_ONCE}")
    print_fields(
        {
            "webhook_secret": secret,
            "generation": rotated["webhook_secret_generation"],
            "old secret signs until": local_time(until_ms),
        }
    )
    return 0


def cmd_reset_master_secret(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config)
    account = find_account(store, args.account)
    secret = accounts.reset_master_secret(store, account["appkey"])
    if args.json:
        print_json({"appkey": account["appkey"], "master_secret": secret})
        return 0
    print(
        f"Master secret of {account['name']!r} reset: the old one no longer works, and "
        f"dashboard sessions signed in with it are over. {SHOWN_ONCE}"
    )
    print_fields({"appkey": account["appkey"], "master_secret": secret})
    return 0


def accounts_after(store: Store, appkey: str) -> dict[str, Any]:
    """The account as stored now (after a change)."""
    return dict(store.get_account(appkey) or {})


def add_commands(sub: Any) -> None:
    group = sub.add_parser("accounts", help="create, list and manage accounts and their secrets")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser("create", help="create an account; prints its credentials once")
    create.add_argument("name")
    create.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
    add_json(create)
    create.set_defaults(func=cmd_create)
    listing = verbs.add_parser("list", help="list accounts (no secrets)")
    add_json(listing)
    listing.set_defaults(func=cmd_list)
    rotate = verbs.add_parser(
        "rotate-secret",
        help="rotate the webhook signing secret (the old one also signs for "
        f"{accounts.ROTATION_OVERLAP_S // 3600} h); prints the new one once",
    )
    reset = verbs.add_parser(
        "reset-master-secret",
        help="give the account a new master secret (the old one stops at once); prints it once",
    )
    for command, func in ((rotate, cmd_rotate_secret), (reset, cmd_reset_master_secret)):
        command.add_argument("account", help="the account's appkey or name")
        add_json(command)
        command.set_defaults(func=func)

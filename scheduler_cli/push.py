"""``scheduler push-credentials``: the push gateway credentials of an account.

The push pool calls the gateway with HTTP Basic ``key:secret`` of the account; they are stored
encrypted with a key derived from ``SCHEDULER_SECRET_KEY`` (see ``shared.push``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from scheduler_cli.common import add_json, open_store
from scheduler_cli.output import print_json
from shared.accounts import load_secret_key
from shared.config import Config
from shared.errors import NotFound


def cmd_push_credentials(args: argparse.Namespace, config: Config) -> int:
    from shared import push  # cryptography: imported only by the command that needs it

    store = open_store(config)
    if store.get_account(args.appkey) is None:
        raise NotFound(f"no account with appkey {args.appkey!r}")
    secret = args.secret if args.secret is not None else read_secret()
    if not args.key or not secret:
        print("error: both the gateway key and secret are needed", file=sys.stderr)
        return 2
    push.set_credentials(store, load_secret_key(config), args.appkey, args.key, secret)
    if args.json:
        print_json({"appkey": args.appkey, "stored": True})
    else:
        print(f"Push gateway credentials of {args.appkey} stored (encrypted).")
    return 0


def read_secret() -> str:
    """The secret from a prompt, or from stdin when piped (keeps it out of ``ps``)."""
    if sys.stdin.isatty():
        return getpass.getpass("gateway secret: ")
    return sys.stdin.readline().strip()


def add_commands(sub: Any) -> None:
    command = sub.add_parser(
        "push-credentials",
        help="set an account's push gateway credentials (HTTP Basic key:secret)",
    )
    command.add_argument("appkey", help="the account's appkey")
    command.add_argument("--key", required=True, help="the gateway's appkey for this account")
    command.add_argument(
        "--secret", help="the gateway's secret (default: read from stdin or a prompt)"
    )
    add_json(command)
    command.set_defaults(func=cmd_push_credentials)

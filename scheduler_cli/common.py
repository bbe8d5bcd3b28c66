"""What every operator command shares: the store, the account an argument names, ``--json``."""

from __future__ import annotations

import argparse
import math
from typing import Any

from shared.config import Config
from shared.errors import NotFound
from shared.redis_url import resolve_redis_url
from shared.store import Store


def open_store(config: Config) -> Store:
    """The store, once it holds its data in ``SCHEDULER_PARTITIONS`` partitions (a command run
    with another count would look for each schedule in the wrong one: ConfigError)."""
    store = Store.from_url(
        resolve_redis_url(config),
        config.key_prefix,
        timeout_s=config.redis_timeout_s,
        outbox=config.broker_is_apart,
        partitions=config.partitions,
    )
    store.check_partitions()
    return store


def find_account(store: Store, ref: str) -> dict[str, Any]:
    """The account whose appkey is ``ref``, else the one account named ``ref``: an operator
    types names, scripts pass appkeys. NotFound when none (or several) match."""
    account = store.get_account(ref)
    if account is not None:
        return account
    named = [a for a in store.list_accounts() if a.get("name") == ref]
    if len(named) == 1:
        return named[0]
    if named:
        raise NotFound(f"{len(named)} accounts are named {ref!r}: give the appkey instead")
    raise NotFound(f"no account {ref!r} (appkey or name): see `scheduler accounts list`")


def add_json(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--json", action="store_true", help="print JSON (instants in UTC) instead of a table"
    )


def add_account(command: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    command.add_argument(
        "--account",
        required=required,
        metavar="ACCOUNT",
        help=f"the account (appkey or name){help}",
    )


def positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number >= 1")
    return int(raw)


MAX_DELAY_S = 100 * 365 * 24 * 3600  # `--in` at most a century ahead


def delay_seconds(raw: str) -> float:
    """A ``--in SECONDS``: a finite number from 0 to a century (``nan``, ``inf`` and ``1e30``
    parse as floats, and mean no instant)."""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_DELAY_S:  # false for nan too
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds from 0 to 100 years")
    return seconds

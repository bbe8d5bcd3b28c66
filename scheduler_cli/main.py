"""``scheduler``: one command for every process of the service, and for account admin.

Each subcommand is one short function of (args, config). Heavy imports (Celery, Flask, the beat)
happen inside them, so ``scheduler accounts`` stays quick and a missing Redis is reported, not
raised at import. Any configuration error ends the command with one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from scheduler_cli import beacon, push, schedules, tasks
from shared import accounts, embedded_redis, logs
from shared.config import Config
from shared.contract import DELIVERY_POOLS, POOLS
from shared.errors import ConfigError, SchedulerError, UnsafeRedisConfig
from shared.redis_url import resolve_redis_url
from shared.store import Store
from shared.timing import now_ms

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BEAT_SCHEDULER = "scheduler_beat.scheduler:RedisScheduler"
DEFAULT_PROCESSES = 2  # worker processes of a pool that runs prefork (tasks, jobs)
# What `scheduler dev` sets unless the environment already does (README, "Metrics and logs").
DEV_DEFAULTS = {
    "SCHEDULER_LOG_FORMAT": "text",
    "SCHEDULER_BEAT_METRICS_PORT": "9101",
    "SCHEDULER_WORKER_METRICS_PORT": "9102",
}
# What `accounts list` may show: everything else in a stored account is a digest of a secret.
PUBLIC_ACCOUNT_FIELDS = ("name", "appkey", "timezone", "created_ms", "webhook_secret_generation")

Command = Callable[[argparse.Namespace, Config], int | None]


# --- the service's processes -----------------------------------------------------------------


def cmd_redis(args: argparse.Namespace, config: Config) -> int:
    from scheduler_cli.dev import POLL_INTERVAL_S, stop_signals

    with stop_signals() as stop:
        server = embedded_redis.start(config)
        if not server.owned:
            print(f"Redis of {config.data_path} is already running at {server.url}")
            return 0
        with server:
            print(
                f"Redis running at {server.url}, data in {config.data_path / 'redis'}; "
                "Ctrl-C stops it",
                flush=True,
            )
            assert server.process is not None
            while not stop and server.process.poll() is None:
                time.sleep(POLL_INTERVAL_S)
            return 0 if stop else 1


def cmd_api(args: argparse.Namespace, config: Config) -> int:
    setup_logs(config)
    if args.dev_server:  # werkzeug's server, with the request caps of config
        from scheduler_api.app import create_app
        from scheduler_api.serving import serve

        serve(create_app(config), config)
        return 0
    from scheduler_api import production

    production.serve(config)  # gunicorn, as deploy/ runs it; exits the process when stopped
    return 0


def cmd_beat(args: argparse.Namespace, config: Config) -> int | None:
    setup_logs(config)  # now: Celery may warn before it sets up logging (our hook, again)
    # Refuse an evicting Redis before Celery starts, so the message is ours, not a traceback.
    open_store(config).check_redis_is_safe()
    return run_celery([*quiet(config), "beat", "-S", BEAT_SCHEDULER, "--loglevel", args.loglevel])


def cmd_worker(args: argparse.Namespace, config: Config) -> int | None:
    setup_logs(config)  # now: Celery may warn before it sets up logging (our hook, again)
    open_store(config).check_redis_is_safe()
    return run_celery([*quiet(config), *worker_argv(args, config)])


def worker_argv(args: argparse.Namespace, config: Config) -> list[str]:
    """Celery's ``worker`` command line for ``scheduler worker``."""
    name = args.name or f"{args.pool}@%h"
    argv = ["worker", "-Q", args.pool, "-n", name, "-E", "--loglevel", args.loglevel]
    # Gossip only syncs worker state between nodes: broker traffic neither the engine nor Flower
    # needs. Mingle stays: it is cheap, once at start.
    argv += ["--without-gossip"]
    concurrency = worker_concurrency(args, config)
    return [*argv, "--pool", worker_pool(args.pool), "--concurrency", str(concurrency)]


def worker_pool(pool: str) -> str:
    """Celery's pool for ``pool``: threads for the delivery pools (each thread waits on its
    receiver's socket; bench/README.md says why threads and not gevent), processes for the
    others."""
    return "threads" if pool in DELIVERY_POOLS else "prefork"


def worker_concurrency(args: argparse.Namespace, config: Config) -> int:
    """Deliveries in flight (a delivery pool) or processes (the others)."""
    if args.concurrency:
        return int(args.concurrency)
    return config.delivery_in_flight if args.pool in DELIVERY_POOLS else DEFAULT_PROCESSES


def run_celery(argv: list[str]) -> int:
    """The ``celery`` command on the service's app, and the exit code it ends with.

    Not ``app.start`` (nor ``app.worker_main``): both drop that code. A worker stopped by an
    "Unrecoverable error" ends with 1, click hands it back from ``main`` (not standalone), and
    ``app.start`` returns None; so the worker exited 0, and no supervisor restarted it.
    """
    from celery.bin.celery import celery

    from shared.celery_app import app

    celery.params[0].default = app  # what app.start does: the --app option's default
    try:
        code = celery.main(args=argv, standalone_mode=False)
    finally:
        celery.params[0].default = None
    return code if isinstance(code, int) else 0


def cmd_flower(args: argparse.Namespace, config: Config) -> int | None:
    from tornado.httpserver import HTTPServer

    # Flower builds tornado's HTTPServer itself and offers no option for its caps; tornado's
    # Configurable hook adds these keyword arguments to every HTTPServer it constructs, so
    # Flower's head (request line and headers together) and body are capped like the API's.
    HTTPServer.configure(
        None,
        max_header_size=config.api_max_request_line_bytes + config.api_max_headers_bytes,
        max_body_size=config.api_max_body_bytes,
    )
    return run_celery(["flower", f"--address={config.api_host}", f"--port={config.flower_port}"])


def cmd_dev(args: argparse.Namespace, config: Config) -> int:
    from scheduler_cli.dev import run_dev

    # For a human at a terminal: plain log lines, and metrics on (children inherit these).
    for name, value in DEV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    return run_dev(config, stop_timeout_s=args.stop_timeout)


# --- accounts --------------------------------------------------------------------------------


def cmd_accounts_create(args: argparse.Namespace, config: Config) -> int:
    accounts.valid_timezone(args.timezone)  # before touching Redis: a typo needs no server
    store = open_store(config)
    key = accounts.load_secret_key(config)
    creds = accounts.create_account(
        store, args.name, args.timezone, secret_key=key, now_ms=now_ms()
    )
    if args.json:
        print(json.dumps({"name": args.name, "timezone": args.timezone, **creds}))
        return 0
    print(f"Account {args.name!r} created (time zone {args.timezone}).")
    print("These credentials are shown once and stored nowhere in clear: keep them now.")
    for field, value in creds.items():
        print(f"  {field:<15} {value}")
    return 0


def cmd_accounts_list(args: argparse.Namespace, config: Config) -> int:
    rows = sorted(open_store(config).list_accounts(), key=lambda a: a.get("created_ms", 0))
    public = [{k: a[k] for k in PUBLIC_ACCOUNT_FIELDS if k in a} for a in rows]
    if args.json:
        print(json.dumps(public))
        return 0
    for account in public:
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(account["created_ms"] / 1000))
        print(f"{account['appkey']:<24} {account['timezone']:<20} {created} UTC  {account['name']}")
    if not public:
        print("no accounts yet: scheduler accounts create NAME")
    return 0


def setup_logs(config: Config) -> None:
    logs.configure(config.log_format)
    logs.register_config_secrets(config)


def quiet(config: Config) -> list[str]:
    """Celery's ``--quiet`` when logging JSON: its start-up banner is not JSON lines."""
    return ["--quiet"] if config.log_format == "json" else []


def open_store(config: Config) -> Store:
    return Store.from_url(
        resolve_redis_url(config), config.key_prefix, timeout_s=config.redis_timeout_s
    )


# --- parsing and running ---------------------------------------------------------------------


def positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number >= 1")
    return int(raw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scheduler", description="Run the scheduled-jobs service, or manage its accounts."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help)
        command.set_defaults(func=func)
        return command

    def loglevel(command: argparse.ArgumentParser) -> None:
        command.add_argument("--loglevel", type=str.upper, choices=LOG_LEVELS, default="INFO")

    add("redis", cmd_redis, "run the embedded Redis in the foreground")
    api = add("api", cmd_api, "serve the REST API (gunicorn)")
    api.add_argument(
        "--dev-server",
        action="store_true",
        help="serve with werkzeug's one-process development server instead (a debugger's choice)",
    )
    loglevel(add("beat", cmd_beat, "run the beat: dispatch due schedules"))
    worker = add("worker", cmd_worker, "run a worker pool")
    worker.add_argument("--pool", required=True, choices=POOLS, help="the queue to consume")
    worker.add_argument(
        "--concurrency",
        type=positive_int,
        help="deliveries in flight for push and webhooks (default SCHEDULER_DELIVERY_IN_FLIGHT), "
        f"processes for tasks and jobs (default {DEFAULT_PROCESSES})",
    )
    worker.add_argument("--name", help="the worker's node name (default POOL@HOSTNAME)")
    loglevel(worker)
    add("flower", cmd_flower, "serve the Flower monitoring UI")
    dev = add("dev", cmd_dev, "run the whole service (Redis, API, beat, workers, Flower)")
    dev.add_argument(
        "--stop-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long children may take to stop before they are killed",
    )
    add_accounts(sub)
    schedules.add_commands(sub)
    # Commands of the dialects (each module adds its own):
    beacon.add_commands(sub)
    push.add_commands(sub)
    tasks.add_commands(sub)
    return parser


def add_accounts(sub: Any) -> None:
    group = sub.add_parser("accounts", help="create and list accounts")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser("create", help="create an account; prints its credentials once")
    create.add_argument("name")
    create.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(func=cmd_accounts_create)
    listing = verbs.add_parser("list", help="list accounts (no secrets)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(func=cmd_accounts_list)


def run(args: argparse.Namespace) -> int:
    """Run one parsed command; expected failures become one line on stderr and an exit code."""
    try:
        return args.func(args, Config.from_env()) or 0
    except (ConfigError, UnsafeRedisConfig) as exc:
        return fail(str(exc), 2)
    except redis.ConnectionError as exc:
        return fail(f"cannot reach Redis ({exc}): check REDIS_URL, or run `scheduler redis`", 2)
    except redis.ResponseError as exc:
        # e.g. a protected-mode Redis refusing remote clients, or a wrong password
        return fail(f"Redis refused the command: {exc}", 2)
    except SchedulerError as exc:
        return fail(str(exc), 1)


def fail(message: str, code: int) -> int:
    print(f"scheduler: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(run(args))


if __name__ == "__main__":
    main()

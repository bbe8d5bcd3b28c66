"""The same head caps in the other servers the project starts: gunicorn as deploy/ runs it, and
Flower as `scheduler flower` (and so `make run`) starts it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Config
from tests.raw_http import (
    FAST_S,
    exchange,
    healthy,
    request_head,
)
from tests.support import ProcessGroup, free_port, wait_until

pytestmark = pytest.mark.e2e  # real gunicorn and Flower processes


# --- gunicorn, as deploy/ runs it ----------------------------------------------------------------


def gunicorn_commands() -> list[tuple[str, list[str]]]:
    from tests.deploy_support import all_commands

    return [(where, argv) for where, argv in all_commands() if argv[:1] == ["gunicorn"]]


def test_every_gunicorn_in_deploy_has_the_configured_caps() -> None:
    from gunicorn.config import Config as GunicornConfig

    commands = gunicorn_commands()
    assert {where.split(":")[0] for where, _ in commands} == {"Dockerfile", "compose", "k8s"}
    defaults = Config()
    for where, argv in commands:
        params = vars(GunicornConfig().parser().parse_args(argv[1:]))
        assert params["limit_request_line"] == defaults.api_max_request_line_bytes, where
        assert params["limit_request_field_size"] == defaults.api_max_header_line_bytes, where
        assert params["limit_request_fields"] == defaults.api_max_header_count, where
        # `scheduler api`'s worker: a 414 for a long request line, connections spread over the
        # workers, as under `make run`.
        assert params["worker_class"] == "scheduler_api.production.ApiThreadWorker", where


def test_gunicorn_as_deployed_refuses_64_kb_query_strings_and_headers_fast(
    clean_redis: str, tmp_path: Path
) -> None:
    _, argv = next(c for c in gunicorn_commands() if c[0].startswith("compose"))
    port = free_port()
    bind = argv.index("--bind")
    args = [*argv[1 : bind + 1], f"127.0.0.1:{port}", *argv[bind + 2 :], "--workers", "1"]
    group = ProcessGroup(clean_redis, tmp_path)
    try:
        group.start(["gunicorn", *args])
        wait_until(lambda: healthy(port), timeout_s=30, what="gunicorn up")
        for head, status in (
            (request_head("GET", "/1/jobs?" + "a" * 65_000, {}), 414),
            (request_head("GET", "/1/jobs", {"X-Big": "v" * 65_000}), 431),
            (request_head("GET", "/1/jobs", {f"X-Many-{n}": "v" for n in range(150)}), 431),
        ):
            answer = exchange(port, head)
            assert answer.status == status, answer.head
            assert answer.seconds < FAST_S
            assert healthy(port)
    finally:
        group.stop_all()


# --- Flower, as `scheduler flower` (and so `make run`) starts it ---------------------------------


def test_flower_refuses_64_kb_query_strings_and_headers_fast(
    clean_redis: str, tmp_path: Path
) -> None:
    """Tornado, under Flower, has no 414/431: past its head cap it closes the connection without
    an answer. What matters is the same: refused at once, nothing buffered, the server serves on.
    Without our cap, tornado's own default (64 KiB) would let the first two requests through."""
    port = free_port()
    group = ProcessGroup(clean_redis, tmp_path)
    try:
        group.start(["scheduler_cli.main", "flower"], api_host="127.0.0.1", flower_port=port)
        wait_until(lambda: flower_healthy(port), timeout_s=30, what="Flower up")
        for head in (
            request_head("GET", "/healthcheck?" + "a" * 60_000, {}),
            request_head("GET", "/healthcheck", {"X-Big": "v" * 60_000}),
        ):
            answer = exchange(port, head)
            assert answer.status in (0, 400, 414, 431), answer.head  # 0: closed, no answer
            assert answer.seconds < FAST_S
            assert flower_healthy(port)
    finally:
        group.stop_all()


def flower_healthy(port: int) -> bool:
    try:
        return exchange(port, request_head("GET", "/healthcheck", {})).status == 200
    except OSError:
        return False

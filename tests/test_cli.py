"""The ``scheduler`` command, run as a real process, and the ``scheduler dev`` supervisor."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from scheduler_cli.dev import ChildSpec, StopRequest, Supervisor, run_dev
from shared import accounts, embedded_redis
from shared.config import Config
from shared.redis_url import url_file
from shared.store import Store
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]  # each test runs the CLI or its children


def scheduler(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m scheduler_cli.main ARGS`` with only the settings given here."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "scheduler_cli.main", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


# --- accounts --------------------------------------------------------------------------------


def test_accounts_create_json_prints_working_credentials(clean_redis: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": clean_redis, "SCHEDULER_DATA_DIR": str(tmp_path)}
    result = scheduler("accounts", "create", "acme", "--json", **env)
    assert result.returncode == 0, result.stderr
    creds = json.loads(result.stdout)
    assert {"appkey", "master_secret", "userkey", "webhook_secret"} <= set(creds)
    store = Store.from_url(clean_redis)
    assert accounts.authenticate_basic(store, creds["appkey"], creds["master_secret"])
    assert accounts.authenticate_userkey(store, creds["userkey"])
    # Signed with the key generated into the data dir, so every process derives the same secret.
    key = accounts.load_secret_key(Config.from_env({}, data_dir=str(tmp_path)))
    assert creds["webhook_secret"] == accounts.webhook_secret(key, creds["appkey"], 1)


def test_accounts_create_shows_credentials_that_list_never_shows(
    clean_redis: str, tmp_path: Path
) -> None:
    env = {"REDIS_URL": clean_redis, "SCHEDULER_DATA_DIR": str(tmp_path)}
    created = scheduler("accounts", "create", "acme", "--timezone", "Asia/Tokyo", **env)
    assert created.returncode == 0, created.stderr
    assert "shown once" in created.stdout
    shown = dict(line.split() for line in created.stdout.splitlines() if line.startswith("  "))
    assert set(shown) == {"appkey", "master_secret", "userkey", "webhook_secret"}
    account = Store.from_url(clean_redis).get_account(shown["appkey"])
    assert account is not None and account["timezone"] == "Asia/Tokyo"
    for listing in (
        scheduler("accounts", "list", **env),
        scheduler("accounts", "list", "--json", **env),
    ):
        assert listing.returncode == 0, listing.stderr
        assert shown["appkey"] in listing.stdout and "acme" in listing.stdout
        for field in ("master_secret", "userkey", "webhook_secret"):
            assert shown[field] not in listing.stdout
        assert "sha256" not in listing.stdout


def test_unknown_time_zone_exits_2_with_a_clear_message(clean_redis: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": clean_redis, "SCHEDULER_DATA_DIR": str(tmp_path)}
    result = scheduler("accounts", "create", "x", "--timezone", "Not/AZone", **env)
    assert_one_clear_line(result, "unknown time zone", "Not/AZone")
    assert Store.from_url(clean_redis).list_accounts() == []


# --- errors ----------------------------------------------------------------------------------


def test_unknown_pool_exits_2() -> None:
    result = scheduler("worker", "--pool", "nope")
    assert_one_clear_line(result, "nope", "webhooks")


def test_bad_setting_exits_2_naming_it(clean_redis: str) -> None:
    result = scheduler("accounts", "list", REDIS_URL=clean_redis, SCHEDULER_API_PORT="eighty")
    assert_one_clear_line(result, "SCHEDULER_API_PORT")


def test_unreachable_redis_exits_2(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{embedded_redis.free_port()}/0"
    result = scheduler("accounts", "list", REDIS_URL=url, SCHEDULER_DATA_DIR=str(tmp_path))
    assert_one_clear_line(result, "cannot reach Redis", "REDIS_URL")


def test_a_read_only_replica_is_one_clear_line(tmp_path: Path) -> None:
    with (
        embedded_redis.start_redis_server(tmp_path / "primary") as primary,
        embedded_redis.start_redis_server(tmp_path / "replica") as replica,
    ):
        port = primary.url.rsplit(":", 1)[1].split("/")[0]
        redis.Redis.from_url(replica.url).replicaof("127.0.0.1", port)
        result = scheduler(
            "accounts", "create", "acme", REDIS_URL=replica.url, SCHEDULER_DATA_DIR=str(tmp_path)
        )
    assert_one_clear_line(result, "Redis refused the command", "read only replica")


def test_no_redis_at_all_exits_2(tmp_path: Path) -> None:
    result = scheduler("accounts", "list", SCHEDULER_DATA_DIR=str(tmp_path))
    assert_one_clear_line(result, "REDIS_URL is not set")


def test_beat_refuses_an_evicting_redis(tmp_path: Path) -> None:
    with embedded_redis.start_redis_server(tmp_path / "redis") as server:
        redis.Redis.from_url(server.url).config_set("maxmemory-policy", "allkeys-lru")
        result = scheduler("beat", REDIS_URL=server.url, SCHEDULER_DATA_DIR=str(tmp_path))
    assert_one_clear_line(result, "allkeys-lru", "noeviction")


# --- the dev supervisor ----------------------------------------------------------------------

SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
# Ignores SIGTERM, and says so (by writing its pid) only once the handler is in place.
STUBBORN = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + SLEEPER


def python(code: str, *args: object) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def pid_in(path: Path) -> int:
    return wait_until(lambda: path.exists() and path.read_text() and int(path.read_text()))


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_child_that_dies_stops_the_rest(tmp_path: Path) -> None:
    log = io.StringIO()
    specs = [
        ChildSpec("sleeper", python(SLEEPER, tmp_path / "sleeper")),
        ChildSpec("crasher", python("import sys; sys.exit(3)")),
    ]
    supervisor = Supervisor(specs, dict(os.environ), stop_timeout_s=10, log=log)
    supervisor.start()
    try:
        assert supervisor.watch(StopRequest()) == 1
    finally:
        supervisor.stop()
    assert "crasher exited with code 3" in log.getvalue()
    assert supervisor.children["sleeper"].returncode == -signal.SIGTERM


def test_a_stop_request_ends_watching_with_0(tmp_path: Path) -> None:
    supervisor = Supervisor([ChildSpec("sleeper", python(SLEEPER, tmp_path / "s"))], {})
    supervisor.start()
    stop = StopRequest()
    stop.handle(signal.SIGINT, None)
    try:
        assert supervisor.watch(stop) == 0
    finally:
        supervisor.stop()
    assert supervisor.children["sleeper"].returncode == -signal.SIGTERM


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    log = io.StringIO()
    specs = [ChildSpec("stubborn", python(STUBBORN, tmp_path / "stubborn"))]
    supervisor = Supervisor(specs, dict(os.environ), stop_timeout_s=0.3, log=log)
    supervisor.start()
    pid_in(tmp_path / "stubborn")
    started = time.monotonic()
    supervisor.stop()
    assert supervisor.children["stubborn"].returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert "stubborn still running after 0.3 s; killing it" in log.getvalue()


def test_run_dev_returns_1_when_a_child_dies(
    clean_redis: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config.from_env({}, redis_url=clean_redis, data_dir=str(tmp_path))
    specs = [
        ChildSpec("sleeper", python(SLEEPER, tmp_path / "sleeper")),
        ChildSpec("crasher", python("import sys; sys.exit(3)")),
    ]
    assert run_dev(config, specs) == 1
    out, err = capsys.readouterr()
    assert out.startswith("scheduler dev: redis ready (from REDIS_URL)")  # URLs: test_dev.py
    assert "crasher exited with code 3" in err


DEV_SCRIPT = """
import sys
from scheduler_cli.dev import ChildSpec, run_dev
from shared.config import Config
code = {sleeper!r}
specs = [ChildSpec(n, [sys.executable, "-c", code, sys.argv[1] + "/" + n]) for n in ("a", "b")]
sys.exit(run_dev(Config.from_env(), specs))
"""


def test_sigint_stops_children_and_the_embedded_redis(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "REDIS_URL"))}
    dev = subprocess.Popen(
        [sys.executable, "-c", DEV_SCRIPT.format(sleeper=SLEEPER), str(tmp_path)],
        env={**base, "SCHEDULER_DATA_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pids = [pid_in(tmp_path / "a"), pid_in(tmp_path / "b")]
        config = Config.from_env({}, data_dir=str(tmp_path))
        redis_url = url_file(config).read_text().strip()
        assert embedded_redis.ping(redis_url)
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=20) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
    assert dev.stdout is not None and redis_url in dev.stdout.read()
    assert not any(is_alive(pid) for pid in pids)
    assert not url_file(config).exists()
    assert not embedded_redis.ping(redis_url)

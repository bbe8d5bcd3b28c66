"""Running the real ``scheduler dev`` in a test: settings of its own (ports, data dir), its
output in a file, and the processes it left behind, found by the data dir in their environment."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.support import free_port, wait_until

READY_TIMEOUT_S = 120.0  # the whole service on a shared 2-core machine; ~10 s usually
GONE_TIMEOUT_S = 30.0  # the children's warm shutdown, bounded by --stop-timeout


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` ports in a row that are free now (the worker metrics ports)."""
    for _ in range(50):
        first = free_port()
        if all(_bindable(first + n) for n in range(1, count)):
            return first
    raise AssertionError(f"no {count} free ports in a row")


def _bindable(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def dev_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `scheduler dev` of its own: free ports, data in ``data_dir``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "REDIS_URL"))}
    return {
        **base,
        "SCHEDULER_DATA_DIR": str(data_dir),
        "SCHEDULER_API_PORT": str(free_port()),
        "SCHEDULER_FLOWER_PORT": str(free_port()),
        "SCHEDULER_BEAT_METRICS_PORT": str(free_port()),
        "SCHEDULER_WORKER_METRICS_PORT": str(consecutive_free_ports(4)),
        **settings,
    }


class DevRun:
    """One ``scheduler dev`` process; ``output()`` is what it printed (stdout and stderr).

    ``terminal``: it runs in a terminal of its own (a pty) under a shell that leads the session
    and ignores SIGHUP, as ``make run`` does when it leads its session: when the terminal is
    closed (``close_terminal``), only noticing the hang-up can stop ``scheduler dev``."""

    def __init__(self, data_dir: Path, terminal: bool = False) -> None:
        self.data_dir = data_dir
        self.out_path = data_dir.parent / f"{data_dir.name}-out.txt"
        argv = [sys.executable, "-m", "scheduler_cli.main", "dev", "--stop-timeout", "10"]
        self.terminal: int | None = None
        with open(self.out_path, "wb") as out:
            if terminal:
                self.process = self._start_in_terminal(argv, dev_env(data_dir))
            else:
                self.process = subprocess.Popen(
                    argv, env=dev_env(data_dir), stdout=out, stderr=subprocess.STDOUT
                )

    def _start_in_terminal(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.terminal, replica = pty.openpty()
        shell = ["sh", "-c", 'trap "" HUP; "$@"; true', "sh", *argv]
        try:
            return subprocess.Popen(
                shell,
                env=env,
                stdin=replica,
                stdout=replica,
                stderr=replica,
                start_new_session=True,  # a session of its own, led by sh, with this terminal:
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            )
        finally:
            os.close(replica)

    def close_terminal(self) -> None:
        assert self.terminal is not None
        os.close(self.terminal)
        self.terminal = None

    def output(self) -> str:
        if self.terminal is not None:  # what the terminal shows so far, kept in out_path
            while select.select([self.terminal], [], [], 0)[0]:
                try:
                    chunk = os.read(self.terminal, 65536)
                except OSError:
                    break
                with open(self.out_path, "ab") as out:
                    out.write(chunk.replace(b"\r\n", b"\n"))
        return self.out_path.read_text(errors="replace")

    def wait_for_urls(self) -> str:
        """The output once the URL block (its last line names the logs) was printed."""
        wait_until(
            lambda: "  Logs " in self.output() or self.process.poll() is not None,
            timeout_s=READY_TIMEOUT_S,
            what="the URL block",
        )
        assert self.process.poll() is None, self.output()
        return self.output()

    def survivors(self) -> list[str]:
        """Every process still running with this run's data dir in its environment."""
        return [describe(p) for p in processes_of(self.data_dir)]

    def end(self) -> None:
        """Leave nothing behind, whatever the test did."""
        if self.terminal is not None:
            self.close_terminal()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=GONE_TIMEOUT_S)
        for process in processes_of(self.data_dir):
            with contextlib.suppress(psutil.Error):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=5)


def processes_of(data_dir: Path) -> Iterator[psutil.Process]:
    """Processes with ``data_dir`` in their environment, or working in it: the embedded Redis,
    whose title overwrites its environment, runs in ``data_dir/redis``."""
    marker = f"SCHEDULER_DATA_DIR={data_dir}".encode()
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
            inside = Path(process.cwd()).is_relative_to(data_dir)
            if (marker in environ or inside) and process.status() != psutil.STATUS_ZOMBIE:
                yield process


def describe(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{process.pid} {' '.join(process.cmdline())}"
    return str(process.pid)

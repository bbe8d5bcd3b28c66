"""A private RabbitMQ node for the tests: Debian's ``rabbitmq-server`` started on free loopback
ports with its own node name, data dir, logs, config and Erlang cookie (never the machine's own
node on 5672), the management plugin off. ``make test`` installs the package where it is missing
(``make rabbitmq``); without it the tests that need a node skip, saying so loudly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from shared.lifeline import die_with_parent
from tests.support import free_port

# The scripts themselves, not /usr/sbin's wrappers (which switch to the rabbitmq user).
RABBITMQ_BIN = Path(os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
START_TIMEOUT_S = 90.0  # a cold Erlang VM on a busy 2-core machine


class RabbitNode:
    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.name = f"sched-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.dir),  # its own .erlang.cookie, shared by server and rabbitmqctl
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
        )
        return env

    def start(self) -> None:
        (self.dir / "rabbitmq.conf").write_text(
            f"loopback_users = none\nlisteners.tcp.1 = 127.0.0.1:{self.port}\n"
        )
        (self.dir / "enabled_plugins").write_text("[].\n")  # no management plugin
        log = open(self.dir / "server.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # a killed test run leaves no node behind
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._ctl("await_startup", "--timeout", "10"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                out = (self.dir / "server.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"RabbitMQ node {self.name} did not start:\n{out}")
            time.sleep(0.5)

    def _ctl(self, *args: str) -> bool:
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            timeout=60,
        )
        return done.returncode == 0

    def delete_queues(self) -> None:
        from shared.broker.amqp_broker import connect
        from shared.contract import POOLS

        connection = connect(self.url, 10)
        try:
            channel = connection.channel()
            for pool in POOLS:
                channel.queue_delete(pool)
        finally:
            connection.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._ctl("stop")  # the Erlang VM's orderly stop; the process group if it will not
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def start_rabbitmq(dir: Path) -> RabbitNode:
    """A started node, or a loud skip when the binary is not installed."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists() or not shutil.which("erl"):
        pytest.skip(
            "SKIPPED LOUDLY: rabbitmq-server is not installed, so the RabbitMQ broker is not "
            "tested. `make rabbitmq` (part of `make test`) installs Debian's rabbitmq-server."
        )
    node = RabbitNode(dir)
    node.start()
    return node

"""Before ``scheduler dev`` starts anything: is every port it will listen on free?

A taken port is one line naming its setting, and whose it is: a process of this project (a
``scheduler dev`` still running, or one of its children left over) or another program.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared import metrics
from shared.config import Config
from shared.contract import POOLS
from shared.errors import ConfigError

OUR_MODULE = "scheduler_cli.main"  # how `scheduler dev` starts each child
OUR_SCRIPT = "scheduler"  # the console script (`make run` runs .venv/bin/scheduler dev)


@dataclass(frozen=True)
class Port:
    setting: str  # what to change to move it
    number: int


class PortInUse(ConfigError):
    """A port ``scheduler dev`` needs is taken (one line saying by whom)."""


def dev_ports(config: Config) -> list[Port]:
    """Every port the service's processes listen on, with the setting that names it."""
    ports = [
        Port("SCHEDULER_API_PORT", config.api_port),
        Port("SCHEDULER_FLOWER_PORT", config.flower_port),
    ]
    if config.beat_metrics_port:
        ports.append(Port("SCHEDULER_BEAT_METRICS_PORT", config.beat_metrics_port))
    for index, pool in enumerate(POOLS if config.worker_metrics_port else ()):
        setting = f"SCHEDULER_WORKER_METRICS_PORT (+{index}: the {pool} pool)"
        ports.append(Port(setting, metrics.worker_port(config, [pool])))
    return ports


def check_ports_free(config: Config) -> None:
    """Raise ``PortInUse`` for the first port of ``dev_ports`` that can't be listened on."""
    for port in dev_ports(config):
        problem = listen_problem(config.api_host, port.number)
        if problem == errno.EADDRINUSE:
            raise PortInUse(f"port {port.number} ({port.setting}) {taken_by(port)}")
        if problem:
            raise PortInUse(
                f"cannot listen on {config.api_host} port {port.number} ({port.setting}): "
                f"{errno.errorcode.get(problem, problem)}"
            )


def listen_problem(host: str, port: int) -> int:
    """0 when a server could bind ``host:port`` now, else the errno (EADDRINUSE: taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the servers do: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return 0


def taken_by(port: Port) -> str:
    """The end of the sentence: who holds the port, and what to do."""
    fix = f"set {port.setting.split()[0]} to a free port"
    holder = listener(port.number)
    if holder is None:
        return f"is already in use by another program: stop it or {fix}"
    ours = outermost_of_ours(holder)
    if ours is not None:
        return (
            f"is held by `{command_of(ours)}` (pid {ours.pid}) of this project, left over from "
            f"an earlier `scheduler dev` or still running: stop it (kill {ours.pid}) or {fix}"
        )
    with contextlib.suppress(psutil.Error):
        name = holder.name()
        return f"is already in use by {name} (pid {holder.pid}): stop it or {fix}"
    return f"is already in use by pid {holder.pid}: stop it or {fix}"


def listener(port: int) -> psutil.Process | None:
    """The process listening on ``port`` (None when unknown: another user's, say)."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="inet"):
            bound = getattr(conn.laddr, "port", None)  # laddr is () for an unbound socket
            if conn.status == psutil.CONN_LISTEN and bound == port and conn.pid:
                return psutil.Process(conn.pid)
    return None


def outermost_of_ours(process: psutil.Process) -> psutil.Process | None:
    """The oldest ancestor (``process`` itself included) that is a ``scheduler`` command, e.g.
    the ``scheduler dev`` above a gunicorn worker; None when none is."""
    found = None
    with contextlib.suppress(psutil.Error):
        for candidate in [process, *process.parents()]:
            if command_of(candidate):
                found = candidate
    return found


def command_of(process: psutil.Process) -> str:
    """``scheduler SUBCOMMAND`` when ``process`` runs one, else ''."""
    with contextlib.suppress(psutil.Error):
        argv = process.cmdline()
        for index, arg in enumerate(argv[:3]):
            if arg == OUR_MODULE or Path(arg).name == OUR_SCRIPT:
                return " ".join(["scheduler", *argv[index + 1 : index + 2]])
    return ""

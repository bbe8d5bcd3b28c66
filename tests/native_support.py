"""What the native API's end-to-end modules share: the stack they drive and how to read a
callback's fire instant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.store import Store
from tests.support import HttpReceiver, ProcessGroup, basic, fresh_api_config, now_ms, wait_until


class Stack:
    """The API client, the account, the receiver and the processes (the beat first)."""

    def __init__(
        self, api: FlaskClient, creds: dict[str, str], receiver: HttpReceiver, group: ProcessGroup
    ) -> None:
        self.api, self.creds, self.receiver, self.group = api, creds, receiver, group

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.api.post(path, json=body, headers={**basic(self.creds), **headers})

    def schedule(self, path: str, trigger: dict[str, Any], **doc: Any) -> dict[str, Any]:
        target = {"webhook": {"url": self.receiver.url + path, "body": {"from": path}}}
        body = {"name": path, "trigger": trigger, "target": target, **doc}
        made = self.post("/v1/schedules", body)
        assert made.status_code == 201, made.get_data(as_text=True)
        view: dict[str, Any] = made.get_json()
        return view

    def hits(self, path: str) -> list[Any]:
        with self.receiver._lock:
            return [hit for hit in self.receiver.requests if hit.path == path]


@contextmanager
def running_stack(
    redis_url: str,
    workdir: Path,
    receiver: HttpReceiver,
    pools: dict[str, dict[str, Any]],
    **settings: Any,
) -> Iterator[Stack]:
    """A fresh Redis database with one account, a real beat and a worker per pool (``pools``:
    pool name -> its ``ProcessGroup.worker`` options), stopped on exit; ``settings`` are the
    API's (``Config`` fields)."""
    config = fresh_api_config(redis_url, workdir, **settings)
    store = Store.from_url(config.redis_url, config.key_prefix)
    creds = create_account(store, "native", secret_key=load_secret_key(config), now_ms=now_ms())
    group = ProcessGroup(redis_url, workdir)
    try:
        group.beat()
        for pool, options in pools.items():
            group.worker(pool, **options)
        wait_until(store.last_beat_ms, what="beat running")
        yield Stack(create_app(config).test_client(), creds, receiver, group)
    finally:
        group.stop_all()


def due_of(hit: Any) -> int:
    return int(hit.headers["webhook-id"].rsplit(":", 1)[1])

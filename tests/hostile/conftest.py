"""One app and account for the whole hostile corpus (hundreds of cases: no app per case)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.hostile.support import Api
from tests.support import UNLIMITED, now_ms


@pytest.fixture(scope="package")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Package-wide, not per module: the closing scan of Redis must see every module's cases."""
    redis.Redis.from_url(redis_url).flushdb()
    data_dir = tmp_path_factory.mktemp("hostile")
    config = Config.from_env({}, redis_url=redis_url, data_dir=str(data_dir), **UNLIMITED)
    store = Store.from_url(redis_url, config.key_prefix)
    creds = create_account(store, "hostile", secret_key=load_secret_key(config), now_ms=now_ms())
    yield Api(create_app(config), creds)

"""Where to find Redis: ``REDIS_URL``, or the embedded server that ``scheduler dev`` started."""

from __future__ import annotations

from pathlib import Path

from shared.config import Config
from shared.errors import ConfigError


def url_file(config: Config) -> Path:
    """The embedded server writes its URL here, so every process of one machine finds it."""
    return config.data_path / "redis" / "redis.url"


def resolve_redis_url(config: Config) -> str:
    if config.redis_url:
        return config.redis_url
    path = url_file(config)
    if path.exists():
        return path.read_text().strip()
    raise ConfigError(
        "REDIS_URL is not set and no embedded Redis is running: start the service with "
        "`scheduler dev` (or `scheduler redis`), or set REDIS_URL=redis://host:6379/0"
    )

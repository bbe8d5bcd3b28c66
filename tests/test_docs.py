"""README lists every setting the service reads, so a newcomer can find each one."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from shared.config import ENV_PREFIX, Config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    names = ["REDIS_URL"] + [
        ENV_PREFIX + f.name.upper() for f in fields(Config) if f.name != "redis_url"
    ]
    missing = [name for name in names if f"`{name}`" not in README]
    assert missing == []


def test_quick_start_has_the_two_commands() -> None:
    assert "make run" in README and "make test" in README

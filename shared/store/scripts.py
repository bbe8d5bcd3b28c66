"""The Lua scripts: every ``lua/*.lua``, each starting with its KEYS/ARGV contract, registered once
per client and called by name (the file's stem) from the typed wrapper that reads its answer."""

from __future__ import annotations

from pathlib import Path

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

LUA_DIR = Path(__file__).with_name("lua")
INCLUDE = "--#include "  # a line "--#include NAME" stands for lua/lib/NAME.lua's text


def source(path: Path) -> str:
    """A script's text with its ``--#include`` lines replaced by the library they name."""
    lines = path.read_text().splitlines(keepends=True)
    return "".join(
        (LUA_DIR / "lib" / f"{line[len(INCLUDE) :].strip()}.lua").read_text()
        if line.startswith(INCLUDE)
        else line
        for line in lines
    )


class Scripts:
    """The registered scripts of one client; ``scripts["claim"]`` is ``lua/claim.lua``."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._by_name = {
            path.stem: client.register_script(source(path)) for path in LUA_DIR.glob("*.lua")
        }

    def __getitem__(self, name: str) -> Script:
        return self._by_name[name]

    def load(self) -> None:
        """Load every script now (one pipelined round trip), so the first real call does not
        pay a NOSCRIPT miss and resend its arguments (the beat's first fire would wait on it).
        On a cluster, one SCRIPT LOAD each, which the client sends to every master."""
        if isinstance(self._client, RedisCluster):
            for script in self._by_name.values():
                self._client.script_load(script.script)
            return
        pipe = self._client.pipeline(transaction=False)
        for script in self._by_name.values():
            pipe.script_load(script.script)
        pipe.execute()

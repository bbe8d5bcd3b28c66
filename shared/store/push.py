"""The push schedules dialect's own records: devices, gateway msg ids, sealed credentials."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from shared.store.base import (
    StoreBase,
    dumps,
)


class PushVerbs(StoreBase):
    """Verbs of /v4/schedules and /v4/devices."""

    def put_device(self, account: str, registration_id: str, device: dict[str, Any]) -> None:
        self.redis.hset(
            self.keys_for(account).push_devices(account), registration_id, dumps(device)
        )

    def get_devices(
        self, account: str, registration_ids: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        """The registered devices among ``registration_ids`` (None where unknown), in order."""
        if not registration_ids:
            return []
        raws = self.redis.hmget(
            self.keys_for(account).push_devices(account), list(registration_ids)
        )
        return [json.loads(raw) if raw else None for raw in raws]

    def all_devices(self, account: str) -> dict[str, dict[str, Any]]:
        raws = cast(
            dict[str, str], self.redis.hgetall(self.keys_for(account).push_devices(account))
        )
        return {rid: json.loads(raw) for rid, raw in raws.items()}

    def delete_device(self, account: str, registration_id: str) -> bool:
        return bool(self.redis.hdel(self.keys_for(account).push_devices(account), registration_id))

    def add_push_msg_id(self, schedule_id: str, part: str, msg_id: str, retention_s: int) -> None:
        """Record the msg_id of one push (``part`` = "<due ms>:<batch>"); kept as long as runs."""
        key = self.keys_for(schedule_id).push_msg_ids(schedule_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, part, msg_id)
        pipe.expire(key, max(1, retention_s))
        pipe.execute()

    def push_msg_ids(self, schedule_id: str) -> dict[str, str]:
        return cast(
            dict[str, str], self.redis.hgetall(self.keys_for(schedule_id).push_msg_ids(schedule_id))
        )

    def forget_push_msg_ids(self, schedule_id: str) -> None:
        self.redis.delete(self.keys_for(schedule_id).push_msg_ids(schedule_id))

    def put_push_credentials(self, appkey: str, sealed: str) -> None:
        """An account's push gateway credentials, sealed (encrypted) by ``shared.push``."""
        self.redis.hset(self.keys.push_credentials(), appkey, sealed)

    def sealed_push_credentials(self, appkey: str) -> str | None:
        return cast(str | None, self.redis.hget(self.keys.push_credentials(), appkey))

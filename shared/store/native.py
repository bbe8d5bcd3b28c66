"""The native API's records: named API keys (stored hashed) and idempotent POST answers."""

from __future__ import annotations

import json
from typing import Any, cast

from shared.store.base import StoreBase, dumps

API_KEY_PREFIX = "apikey:"  # in ``account_keys``, beside the userkeys' "userkey:"


class NativeVerbs(StoreBase):
    """API keys and Idempotency-Key records."""

    def put_api_key(self, account: str, record: dict[str, Any]) -> None:
        """Store a key (``record`` holds its ``id`` and ``sha256``, never the key itself)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.api_keys(account), record["id"], dumps(record))
        pipe.hset(
            self.keys.account_keys(),
            API_KEY_PREFIX + record["sha256"],
            f"{account}|{record['id']}",
        )
        pipe.execute()

    def api_keys(self, account: str) -> list[dict[str, Any]]:
        raws = self.redis.hvals(self.keys.api_keys(account))
        return sorted((json.loads(raw) for raw in raws), key=lambda r: (r["created_ms"], r["id"]))

    def api_key(self, account: str, key_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.api_keys(account), key_id)
        return json.loads(raw) if raw else None

    def api_key_owner(self, sha256: str) -> tuple[str, str] | None:
        """(account, key id) of the key with this digest, else None."""
        raw = cast(str | None, self.redis.hget(self.keys.account_keys(), API_KEY_PREFIX + sha256))
        if not raw or "|" not in raw:
            return None
        account, key_id = raw.split("|", 1)
        return account, key_id

    def delete_api_key(self, account: str, key_id: str) -> bool:
        record = self.api_key(account, key_id)
        if record is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.api_keys(account), key_id)
        pipe.hdel(self.keys.account_keys(), API_KEY_PREFIX + record["sha256"])
        pipe.execute()
        return True

    # --- Idempotency-Key ------------------------------------------------------------------

    def reserve_idempotency(
        self, account: str, key_digest: str, record: dict[str, Any], ttl_s: int
    ) -> dict[str, Any] | None:
        """Claim the key with ``record`` (a pending request) unless it is taken: None if ours
        now, else the record already there (pending or answered)."""
        key = self.keys.idempotency(account, key_digest)
        if self.redis.set(key, dumps(record), nx=True, ex=ttl_s):
            return None
        raw = self.redis.get(key)
        return json.loads(raw) if raw else {}

    def settle_idempotency(
        self, account: str, key_digest: str, record: dict[str, Any] | None, ttl_s: int
    ) -> None:
        """Keep the answer ``record`` for the key (its expiry restarts), or free the key (None:
        the request failed in a way a retry may mend)."""
        key = self.keys.idempotency(account, key_digest)
        if record is None:
            self.redis.delete(key)
        else:
            self.redis.set(key, dumps(record), ex=ttl_s)

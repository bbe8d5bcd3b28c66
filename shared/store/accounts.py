"""Accounts (secrets stored hashed) and dashboard sessions."""

from __future__ import annotations

import json
from typing import Any, cast

from shared.store.base import (
    StoreBase,
    dumps,
)


class AccountVerbs(StoreBase):
    """Accounts, their keys, and dashboard sessions."""

    def put_account(self, account: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.accounts(), account["appkey"], dumps(account))
        pipe.hset(
            self.keys.account_keys(), f"userkey:{account['userkey_sha256']}", account["appkey"]
        )
        pipe.execute()

    def get_account(self, appkey: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.accounts(), appkey)
        return json.loads(raw) if raw else None

    def appkey_for_userkey(self, userkey_sha256: str) -> str | None:
        key = f"userkey:{userkey_sha256}"
        return cast(str | None, self.redis.hget(self.keys.account_keys(), key))

    def list_accounts(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.hvals(self.keys.accounts())]

    def put_dashboard_session(self, token_digest: str, record: dict[str, Any], ttl_s: int) -> None:
        self.redis.set(self.keys.dashboard_session(token_digest), dumps(record), ex=max(1, ttl_s))

    def get_dashboard_session(self, token_digest: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.dashboard_session(token_digest))
        return json.loads(raw) if raw else None

    def delete_dashboard_session(self, token_digest: str) -> None:
        self.redis.delete(self.keys.dashboard_session(token_digest))

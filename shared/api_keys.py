"""Named API keys with scopes: the native API's ``Authorization: Bearer`` credentials.

A key is shown once, when it is made, and stored only as its SHA-256 digest (a 256-bit random
token cannot be guessed, so a plain digest is enough; see ``shared.accounts``). Each key has a
name and a set of scopes; HTTP Basic ``appkey:master_secret`` holds every scope.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from shared.accounts import digest
from shared.errors import NotFound, SchedulerError
from shared.store import Store

KEY_PREFIX = "sk_"  # tells a reader (and a secret scanner) what the token is
MAX_NAME_CHARS = 200
MAX_KEYS_PER_ACCOUNT = 100
SCOPES: tuple[str, ...] = (
    "schedules:read",
    "schedules:write",
    "runs:read",
    "dead-letters:read",
    "dead-letters:write",
    "webhook-secret:write",
    "api-keys:read",
    "api-keys:write",
)
ALL_SCOPES = frozenset(SCOPES)


class InvalidApiKey(SchedulerError):
    """A key's name or scopes break a rule; ``field`` names which."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def create_api_key(
    store: Store, account: str, name: str, scopes: list[str], *, now_ms: int
) -> tuple[dict[str, Any], str]:
    """Make a key; returns its public record and the key itself (which exists nowhere else)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidApiKey(f"name: 1-{MAX_NAME_CHARS} characters", field="name")
    unknown = sorted(set(scopes) - ALL_SCOPES)
    if unknown or not scopes:
        reason = f"unknown {', '.join(unknown)}" if unknown else "at least one is required"
        raise InvalidApiKey(f"scopes: {reason}; use {', '.join(SCOPES)}", field="scopes")
    if len(store.api_keys(account)) >= MAX_KEYS_PER_ACCOUNT:
        raise InvalidApiKey(
            f"api key: an account holds at most {MAX_KEYS_PER_ACCOUNT} keys", field="name"
        )
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    record = {
        "id": secrets.token_hex(8),
        "name": name,
        "scopes": [scope for scope in SCOPES if scope in scopes],
        "created_ms": now_ms,
        "prefix": token[:7],  # enough to tell keys apart in a list, useless to an attacker
        "sha256": digest(token),
    }
    store.put_api_key(account, record)
    return public(record), token


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A key's record without its digest."""
    return {k: v for k, v in record.items() if k != "sha256"}


def list_api_keys(store: Store, account: str) -> list[dict[str, Any]]:
    return [public(record) for record in store.api_keys(account)]


def delete_api_key(store: Store, account: str, key_id: str) -> None:
    if not store.delete_api_key(account, key_id):
        raise NotFound(f"no api key {key_id!r}")


def authenticate_api_key(store: Store, token: str) -> tuple[dict[str, Any], set[str]] | None:
    """The account holding ``token`` and the key's scopes, else None."""
    if not token.startswith(KEY_PREFIX):
        return None
    hashed = digest(token)
    owner = store.api_key_owner(hashed)
    if owner is None:
        return None
    record = store.api_key(*owner)
    account = store.get_account(owner[0])
    if record is None or account is None or not hmac.compare_digest(hashed, record["sha256"]):
        return None
    return account, set(record["scopes"])

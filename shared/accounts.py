"""Accounts and their credentials: created once, shown once, never stored in clear.

An account has four credentials:

- ``appkey``: its public id (HTTP Basic user name); stored as is, it is not a secret.
- ``master_secret`` (HTTP Basic password) and ``userkey`` (bearer key): 32 random bytes each, stored
  only as SHA-256 digests. A salted slow hash (bcrypt, scrypt) protects low-entropy passwords from
  guessing; a 256-bit random token cannot be guessed, so a plain digest is enough and keeps every
  authenticated request cheap.
- ``webhook_secret``: we must sign with it, so it cannot be stored hashed; it is derived instead,
  ``HMAC-SHA256(secret_key, "<appkey>:<generation>")``, so nothing secret is stored and any worker
  holding the service's ``secret_key`` reproduces it. Rotation bumps the generation.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from shared.config import Config
from shared.errors import ConfigError, InvalidTrigger, NotFound
from shared.store import Store
from shared.timing import zone

WEBHOOK_SECRET_PREFIX = "whsec_"  # the Standard Webhooks spelling of a signing secret
SECRET_KEY_FILE = "secret.key"
MIN_SECRET_KEY_CHARS = 32
MAX_NAME_CHARS = 200


# --- the service's secret key ----------------------------------------------------------------


# How long the previous webhook signing secret keeps signing after a rotation.
ROTATION_OVERLAP_S = 24 * 3600


def load_secret_key(config: Config) -> bytes:
    """``SCHEDULER_SECRET_KEY``, else a random key generated once into ``<data_dir>/secret.key``.

    Both are text used as its UTF-8 bytes, so the file's content can be moved to the environment
    unchanged. Every process must see the same key, or webhook signatures will not verify.
    """
    if config.secret_key:
        key = config.secret_key
        if len(key) < MIN_SECRET_KEY_CHARS:
            raise ConfigError(
                f"SCHEDULER_SECRET_KEY is {len(key)} characters: use at least "
                f"{MIN_SECRET_KEY_CHARS} random ones, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return key.encode()
    return _key_file(config.data_path / SECRET_KEY_FILE).encode()


def _key_file(path: Path) -> str:
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a private temporary file, then link it into place: link fails if another process won
    # the race, and nobody ever reads a half-written key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_KEY_CHARS:
        raise ConfigError(f"{path} holds no usable key: delete it to generate a new one")
    return key


# --- creating accounts -----------------------------------------------------------------------


def create_account(
    store: Store,
    name: str,
    timezone: str = "UTC",
    *,
    secret_key: bytes | str,
    now_ms: int,
) -> dict[str, str]:
    """Create an account; return its credentials, which exist nowhere else in clear."""
    name = _valid_name(name)
    timezone = valid_timezone(timezone)
    # 128 random bits (hex: url-safe, and never starts with "-" like an option would): a
    # collision between two appkeys is not a practical concern.
    appkey = secrets.token_hex(16)
    master_secret = new_credential()
    userkey = new_credential()
    account: dict[str, Any] = {
        "name": name,
        "appkey": appkey,
        "timezone": timezone,
        "created_ms": now_ms,
        "master_secret_sha256": digest(master_secret),
        "userkey_sha256": digest(userkey),
        "webhook_secret_generation": 1,
    }
    store.put_account(account)
    return {
        "appkey": appkey,
        "master_secret": master_secret,
        "userkey": userkey,
        "webhook_secret": webhook_secret_for(account, secret_key),
    }


def new_credential() -> str:
    """32 random bytes, url-safe, never starting with "-": a command line would take such a key
    for an option (``scheduler beacon --userkey KEY`` refused 1 in 64 of token_urlsafe's)."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def valid_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows, else a ConfigError saying so."""
    try:
        zone(name)  # shared.timing owns zone lookup
    except InvalidTrigger as exc:
        raise ConfigError(
            f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
        ) from exc
    return name


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise ConfigError(f"account name must be 1-{MAX_NAME_CHARS} characters, got {name!r}")
    return name


def reset_master_secret(store: Store, appkey: str) -> str:
    """Give the account a new master secret and return it (shown once, like at creation): the
    old one stops working at once. For a secret that leaked or was lost."""
    account = store.get_account(appkey)
    if account is None:
        raise NotFound(f"no account with appkey {appkey!r}")
    master_secret = new_credential()
    account["master_secret_sha256"] = digest(master_secret)
    store.put_account(account)
    return master_secret


# --- authenticating --------------------------------------------------------------------------


def digest(token: str) -> str:
    """The stored form of a high-entropy token (see the module docstring for why no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate_basic(store: Store, appkey: str, master_secret: str) -> dict[str, Any] | None:
    """The account whose appkey and master secret these are, else None."""
    if not appkey or not master_secret:
        return None
    account = store.get_account(appkey)
    if account is None:
        return None
    ok = hmac.compare_digest(digest(master_secret), account["master_secret_sha256"])
    return account if ok else None


def authenticate_userkey(store: Store, userkey: str) -> dict[str, Any] | None:
    """The account holding this userkey, else None."""
    if not userkey:
        return None
    hashed = digest(userkey)
    # The lookup is by digest, so its timing says nothing about the key; the constant-time
    # compare guards against an index entry left pointing at an account whose key changed.
    appkey = store.appkey_for_userkey(hashed)
    account = store.get_account(appkey) if appkey else None
    if account is None or not hmac.compare_digest(hashed, account["userkey_sha256"]):
        return None
    return account


# --- webhook signing secrets -----------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a worker signs every callback: derive each secret once
def webhook_secret(secret_key: bytes | str, appkey: str, generation: int) -> str:
    """``whsec_`` + base64(HMAC-SHA256(secret_key, "<appkey>:<generation>")): stable, unstored."""
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    mac = hmac.new(key, f"{appkey}:{generation}".encode(), hashlib.sha256).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(mac).decode()


def webhook_secret_for(
    account: dict[str, Any], secret_key: bytes | str, generation: int | None = None
) -> str:
    """The account's current signing secret (or that of an older ``generation``)."""
    gen = account.get("webhook_secret_generation", 1) if generation is None else generation
    return webhook_secret(secret_key, account["appkey"], int(gen))


def rotate_webhook_secret(
    store: Store,
    appkey: str,
    secret_key: bytes | str,
    *,
    overlap_s: int = ROTATION_OVERLAP_S,
    now_ms: int,
) -> str:
    """Move the account to the next generation and return its new signing secret.

    For ``overlap_s`` the previous secret keeps signing too (both signatures are sent), so
    receivers can switch to the new secret without missing a callback.
    """
    account = store.get_account(appkey)
    if account is None:
        raise NotFound(f"no account with appkey {appkey!r}")
    account["webhook_secret_generation"] = int(account.get("webhook_secret_generation", 1)) + 1
    account["webhook_previous_secret_until_ms"] = now_ms + overlap_s * 1000
    store.put_account(account)
    return webhook_secret_for(account, secret_key)


def active_webhook_secrets(
    account: dict[str, Any], secret_key: bytes | str, now_ms: int
) -> list[str]:
    """The secrets that sign a callback now: the current one, and the previous one during a
    rotation's overlap."""
    generation = int(account.get("webhook_secret_generation", 1))
    active = [webhook_secret_for(account, secret_key, generation)]
    if generation > 1 and now_ms < account.get("webhook_previous_secret_until_ms", 0):
        active.append(webhook_secret_for(account, secret_key, generation - 1))
    return active

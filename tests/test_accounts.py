"""Accounts: credentials shown once, stored only as digests, webhook secrets derived, not stored.

The ``store`` fixture (tests/conftest.py) is a Store on a real, freshly emptied Redis.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import redis

from shared import accounts
from shared.config import Config
from shared.errors import ConfigError, NotFound
from shared.store import Store

pytestmark = pytest.mark.timeout(30)

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
KEY = b"k" * 32
NOW = 1_700_000_000_000  # accounts read no clock: the caller says when it is


def every_stored_string(client: redis.Redis) -> str:
    """Every key, field and value in the database, as one string to search for leaks."""
    parts: list[str] = []
    for key in client.scan_iter():
        parts.append(key)
        kind = client.type(key)
        if kind == "hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif kind == "string":
            parts.append(client.get(key))
        else:
            pytest.fail(f"unexpected {kind} key {key}")
    return "\n".join(parts)


def test_create_returns_the_four_credentials(store: Store) -> None:
    creds = accounts.create_account(store, "acme", "Europe/Paris", secret_key=KEY, now_ms=1000)
    assert set(creds) == {"appkey", "master_secret", "userkey", "webhook_secret"}
    assert creds["webhook_secret"].startswith("whsec_")
    assert len(base64.b64decode(creds["webhook_secret"].removeprefix("whsec_"))) == 32
    stored = store.get_account(creds["appkey"])
    assert stored is not None
    assert stored["name"] == "acme"
    assert stored["timezone"] == "Europe/Paris"
    assert stored["created_ms"] == 1000
    assert stored["webhook_secret_generation"] == 1


def test_each_account_gets_fresh_credentials(store: Store) -> None:
    a = accounts.create_account(store, "a", secret_key=KEY, now_ms=NOW)
    b = accounts.create_account(store, "b", secret_key=KEY, now_ms=NOW)
    assert all(a[field] != b[field] for field in a)


def test_no_credential_starts_with_a_dash_as_a_command_line_option_would(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter(["-first", "secret", "-again", "userkey", "-third", "reset"])
    monkeypatch.setattr(accounts.secrets, "token_urlsafe", lambda _n: next(drawn))
    creds = accounts.create_account(store, "a", secret_key=KEY, now_ms=NOW)
    assert (creds["master_secret"], creds["userkey"]) == ("secret", "userkey")
    assert accounts.reset_master_secret(store, creds["appkey"]) == "reset"


def test_no_secret_is_stored_in_clear(store: Store) -> None:
    creds = accounts.create_account(store, "acme", secret_key=KEY, now_ms=NOW)
    everything = every_stored_string(store.redis)
    assert creds["appkey"] in everything  # the search does see what is stored
    for field in ("master_secret", "userkey", "webhook_secret"):
        assert creds[field] not in everything, field
    assert KEY.decode() not in everything


def test_basic_auth_accepts_the_right_secret_only(store: Store) -> None:
    creds = accounts.create_account(store, "acme", secret_key=KEY, now_ms=NOW)
    other = accounts.create_account(store, "other", secret_key=KEY, now_ms=NOW)
    account = accounts.authenticate_basic(store, creds["appkey"], creds["master_secret"])
    assert account is not None and account["name"] == "acme"
    assert accounts.authenticate_basic(store, creds["appkey"], other["master_secret"]) is None
    assert accounts.authenticate_basic(store, creds["appkey"], creds["userkey"]) is None
    assert accounts.authenticate_basic(store, creds["appkey"], "") is None
    assert accounts.authenticate_basic(store, "no-such-appkey", creds["master_secret"]) is None


def test_userkey_auth_accepts_the_right_key_only(store: Store) -> None:
    creds = accounts.create_account(store, "acme", secret_key=KEY, now_ms=NOW)
    account = accounts.authenticate_userkey(store, creds["userkey"])
    assert account is not None and account["appkey"] == creds["appkey"]
    assert accounts.authenticate_userkey(store, creds["master_secret"]) is None
    assert accounts.authenticate_userkey(store, creds["userkey"] + "x") is None
    assert accounts.authenticate_userkey(store, "") is None


def test_webhook_secret_is_derived_stably_per_appkey_and_generation(store: Store) -> None:
    creds = accounts.create_account(store, "acme", secret_key=KEY, now_ms=NOW)
    account = store.get_account(creds["appkey"])
    assert account is not None
    assert accounts.webhook_secret_for(account, KEY) == creds["webhook_secret"]
    assert accounts.webhook_secret_for(account, KEY.decode()) == creds["webhook_secret"]
    assert accounts.webhook_secret(KEY, creds["appkey"], 1) == creds["webhook_secret"]
    assert accounts.webhook_secret_for(account, KEY, generation=2) != creds["webhook_secret"]
    assert accounts.webhook_secret(KEY, "another-appkey", 1) != creds["webhook_secret"]
    assert accounts.webhook_secret(b"x" * 32, creds["appkey"], 1) != creds["webhook_secret"]


def test_rotation_moves_to_the_next_generation(store: Store) -> None:
    creds = accounts.create_account(store, "acme", secret_key=KEY, now_ms=NOW)
    rotated = accounts.rotate_webhook_secret(store, creds["appkey"], KEY, now_ms=NOW)
    assert rotated == accounts.webhook_secret(KEY, creds["appkey"], 2)
    account = store.get_account(creds["appkey"])
    assert account is not None and account["webhook_secret_generation"] == 2
    assert accounts.authenticate_userkey(store, creds["userkey"]) is not None
    with pytest.raises(NotFound):
        accounts.rotate_webhook_secret(store, "no-such-appkey", KEY, now_ms=NOW)


@pytest.mark.parametrize("zone", ["Not/AZone", "", "../etc/passwd"])
def test_unknown_time_zone_is_refused_before_anything_is_stored(store: Store, zone: str) -> None:
    with pytest.raises(ConfigError, match="time zone"):
        accounts.create_account(store, "acme", zone, secret_key=KEY, now_ms=NOW)
    assert store.list_accounts() == []


def test_blank_name_is_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="name"):
        accounts.create_account(store, "  ", secret_key=KEY, now_ms=NOW)


def test_secret_key_from_the_environment_wins(tmp_path: Path) -> None:
    config = Config.from_env({"SCHEDULER_SECRET_KEY": "e" * 40}, data_dir=str(tmp_path))
    assert accounts.load_secret_key(config) == b"e" * 40
    assert not (tmp_path / accounts.SECRET_KEY_FILE).exists()
    assert "eeee" not in repr(config)


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    config = Config.from_env({"SCHEDULER_SECRET_KEY": "short"}, data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="SCHEDULER_SECRET_KEY"):
        accounts.load_secret_key(config)


def test_secret_key_file_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    config = Config.from_env({}, data_dir=str(tmp_path / "data"))
    first = accounts.load_secret_key(config)
    path = tmp_path / "data" / accounts.SECRET_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first) >= accounts.MIN_SECRET_KEY_CHARS
    assert accounts.load_secret_key(config) == first
    # The file's text works unchanged as SCHEDULER_SECRET_KEY (moving a dev setup to production).
    moved = Config.from_env({"SCHEDULER_SECRET_KEY": path.read_text().strip()})
    assert accounts.load_secret_key(moved) == first
    assert sorted(p.name for p in path.parent.iterdir()) == [accounts.SECRET_KEY_FILE]

"""Who is calling: HTTP Basic ``appkey:master_secret`` (the push, task and webhook dialects, the
native API and the dashboard's sign-in form), beacon's ``userkey`` or a named API key (the native
API's ``Authorization: Bearer``); each attempt goes through the rate limits.

An address or appkey that failed too often is refused (429), whatever it sent; otherwise wrong
credentials are counted as a failure and the right ones count the request to the account. All of
that is one Redis round trip: HTTP Basic credentials are checked in the rate-limit script itself,
a userkey or an API key is looked up first.
A request with no credentials at all is not a failed attempt (HTTP clients commonly send one
first to get the 401 challenge): it only counts as an unauthenticated request of its address.
"""

from __future__ import annotations

from typing import Any

from flask import Request

from scheduler_api import ratelimit
from shared.accounts import authenticate_userkey, digest
from shared.api_keys import authenticate_api_key
from shared.store import Store

Account = dict[str, Any]


def basic_account(request: Request, store: Store) -> Account | None:
    """The authenticated account, or None (missing, malformed or wrong credentials)."""
    try:
        auth = request.authorization
    except ValueError:  # werkzeug: a Basic token with non-ASCII characters is not base64
        auth = None
    if auth is None or auth.type != "basic":
        ratelimit.unauthenticated()
        return None
    return password_account(store, auth.username or "", auth.password or "")


def password_account(store: Store, appkey: str, master_secret: str) -> Account | None:
    """The account of ``appkey`` if ``master_secret`` is its own, else None."""
    if not appkey and not master_secret:
        ratelimit.unauthenticated()
        return None
    if not appkey or not master_secret:  # no account to look up: a failure
        return _counted(None, appkey)
    # The lookup, the check and the counting: one round trip (the check is authenticate_basic's).
    return ratelimit.basic_authentication(appkey, digest(master_secret))


def userkey_account(store: Store, userkey: str) -> Account | None:
    """The account holding ``userkey``, else None."""
    if not userkey:
        ratelimit.unauthenticated()
        return None
    # A userkey names no appkey: throttled per address only.
    return _counted(authenticate_userkey(store, userkey), "")


def bearer_key(store: Store, token: str) -> tuple[Account, set[str]] | None:
    """The account holding the API key ``token`` and the key's scopes, else None."""
    if not token:
        ratelimit.unauthenticated()
        return None
    found = authenticate_api_key(store, token)
    _counted(found[0] if found else None, "")  # a key names no appkey: per address only
    return found


def _counted(account: Account | None, claimed_appkey: str) -> Account | None:
    """Through the rate limits: a locked-out address or appkey gets 429 whatever it sent."""
    ratelimit.authentication_settled(claimed_appkey, account["appkey"] if account else None)
    return account

"""Who is calling: HTTP Basic ``appkey:master_secret`` (the push, task and webhook dialects)."""

from __future__ import annotations

from typing import Any

from flask import Request

from shared.accounts import authenticate_basic
from shared.store import Store


def basic_account(request: Request, store: Store) -> dict[str, Any] | None:
    """The authenticated account, or None (missing, malformed or wrong credentials)."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        return None
    return authenticate_basic(store, auth.username, auth.password)

"""Standard Webhooks signatures (https://www.standardwebhooks.com/) for our callbacks.

``webhook-id`` is the execution id (the same on every retry, so receivers can deduplicate),
``webhook-timestamp`` the send time in seconds, and ``webhook-signature`` a space-separated list of
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per active secret: during a secret
rotation's overlap both the new and the previous secret sign, so receivers can switch at leisure.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"


def sign(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    key = _key(secret)
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@functools.lru_cache(maxsize=4096)  # the same few secrets sign every callback
def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_headers(
    secrets: Sequence[str], message_id: str, timestamp_s: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": " ".join(sign(s, message_id, timestamp_s, body) for s in secrets),
    }

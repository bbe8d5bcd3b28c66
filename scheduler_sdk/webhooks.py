"""For receivers: check a callback's Standard Webhooks signature (https://www.standardwebhooks.com/).

The service signs each callback with the account's ``whsec_`` secret: ``webhook-id`` (the
execution id, the same on every retry), ``webhook-timestamp`` (seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per active secret during a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300  # how far a timestamp may be from now (replayed old callbacks are refused)


class WebhookVerificationError(Exception):
    """The callback is not signed by the secret, or too old or new, or lacks a header."""


def verify_webhook(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: int = TOLERANCE_S,
    now_s: float | None = None,
) -> str:
    """The callback's ``webhook-id`` if one of its signatures is ``secret``'s, else raise
    WebhookVerificationError. ``headers`` as received (names in any case)."""
    lower = {name.lower(): value for name, value in headers.items()}
    try:
        message_id, stamp = lower["webhook-id"], lower["webhook-timestamp"]
        signatures = lower["webhook-signature"].split()
    except KeyError as missing:
        raise WebhookVerificationError(f"missing header {missing}") from None
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp: not whole seconds")
    now = time.time() if now_s is None else now_s
    if abs(now - int(stamp)) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp: too far from now")
    expected = signature(secret, message_id, stamp, body)
    if not any(hmac.compare_digest(expected, given.encode()) for given in signatures):
        raise WebhookVerificationError("no signature matches the secret")
    return message_id


def signature(secret: str, message_id: str, stamp: str, body: bytes) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("secret: not a whsec_ secret (base64 after the prefix)") from None
    signed = f"{message_id}.{stamp}.".encode() + body
    return b"v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())

"""Our callback signatures verify with the reference ``standardwebhooks`` library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from workers.signing import signature_headers

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()


def test_a_signature_verifies_with_the_reference_library() -> None:
    now = int(time.time())
    headers = signature_headers([SECRET], "sched:123", now, b'{"a":1}')
    assert Webhook(SECRET).verify(b'{"a":1}', headers) == {"a": 1}
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(b'{"a":1}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"a":2}', headers)


def test_during_rotation_both_secrets_sign() -> None:
    headers = signature_headers([OTHER, SECRET], "sched:123", int(time.time()), b"x")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OTHER):
        Webhook(secret).verify(b"x", headers, json_parse=False)  # raises unless one matches

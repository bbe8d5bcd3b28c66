"""A typed Python client of the scheduler's native API (``/v1``).

    from scheduler_sdk import Client

    with Client("http://127.0.0.1:5000", api_key="sk_...") as client:
        made = client.schedules.create(
            {"name": "nightly", "trigger": {"cron": "0 3 * * *"},
             "target": {"webhook": {"url": "https://example.com/hook"}}}
        )
        for schedule in client.schedules.list():
            print(schedule["id"], schedule["next_fires"][:1])

Errors come as ``ProblemError`` (the API's RFC 9457 problem document); ``verify_webhook`` checks
a callback's Standard Webhooks signature on the receiving side.
"""

from scheduler_sdk.client import Client
from scheduler_sdk.errors import ProblemError
from scheduler_sdk.transport import NO_RETRY, RetryPolicy
from scheduler_sdk.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "NO_RETRY",
    "Client",
    "ProblemError",
    "RetryPolicy",
    "WebhookVerificationError",
    "verify_webhook",
]

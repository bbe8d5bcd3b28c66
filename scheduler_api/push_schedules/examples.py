"""Examples of ``/v4/schedules`` and ``/v4/devices`` for the OpenAPI document: requests as the
document writes them and answers as this service gives them (taken from real answers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scheduler_api.openapi.examples import METHOD_NOT_ALLOWED, RATE_LIMITED, STORE_UNREACHABLE
from shared.timing import now_ms

SCHEDULE_ID = "8d99a043-f336-4390-8261-f66bb44f6d6f"
DAY_MS = 86_400_000
PUSH = {
    "from": "push",
    "to": {"registration_id": ["dev-1"]},
    "body": {"platform": "android", "notification": {"alert": "Good morning"}},
}
SENT_AT = "2026-12-05 08:00:00"


def tomorrow() -> str:
    """A trigger time the API accepts whenever the document is read: this time tomorrow (UTC)."""
    return datetime.fromtimestamp((now_ms() + DAY_MS) // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def schedule(time: str, zone_type: int = 1) -> dict[str, Any]:
    return {
        "name": "morning_news",
        "enabled": True,
        "trigger": {"single": {"time": time, "zone_type": zone_type}},
        "push": PUSH,
    }


NEW_SCHEDULE = {
    "at one instant (zone_type 1, the account's zone)": lambda: schedule(tomorrow()),
    "at each device's local time (zone_type 2)": lambda: schedule(tomorrow(), 2),
}
SCHEDULE = {"schedule_id": SCHEDULE_ID, **schedule(SENT_AT)}
CREATED = {"schedule_id": SCHEDULE_ID, "name": "morning_news"}
PAGE = {"total_count": 1, "total_pages": 1, "page": 1, "schedules": [SCHEDULE]}
MSG_IDS = {"count": 2, "msgids": ["18100512345678901", "18100512345678902"]}
DEVICE_ID = "dev-1"
NEW_DEVICE = {"timezone": "Asia/Tokyo", "tags": ["beta"], "alias": "alice"}
DEVICE = {"registration_id": DEVICE_ID, **NEW_DEVICE}


def error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


ERRORS = {
    400: error(28100, "name: may hold only letters, digits, underscores and spaces"),
    401: error(28101, "Basic authentication failed: appkey and master_secret do not match"),
    404: error(28104, f"schedule '{SCHEDULE_ID}' does not exist (wrong id, or already sent)"),
    405: error(28100, METHOD_NOT_ALLOWED),
    413: error(28100, "body is larger than 262144 bytes"),
    429: error(28129, RATE_LIMITED),
    503: error(28203, STORE_UNREACHABLE),
}

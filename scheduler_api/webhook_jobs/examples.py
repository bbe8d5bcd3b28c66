"""Examples of ``/1/jobs`` for the OpenAPI document: requests as the document writes them and
answers as this service gives them (taken from real answers)."""

from __future__ import annotations

from typing import Any

from scheduler_api import formats
from scheduler_api.openapi import Text
from scheduler_api.openapi.examples import (
    METHOD_NOT_ALLOWED,
    QUOTA_REACHED,
    RATE_LIMITED,
    STORE_UNREACHABLE,
)
from scheduler_api.webhook_jobs import replies
from scheduler_api.webhook_jobs.schemas import JobDocument

JOB_ID = "6efa63ed-4b1f-4d3c-9b8e-2f3c1a7d5e90"
OTHER_ID = "ae47e732-28dc-41d0-bd96-49a9019c1e7e"
EXECUTION = f"{OTHER_ID}:1795431596840"
CALLBACK = "https://example.com/my-callback"
XML_HEAD = "<?xml version='1.0' encoding='utf-8'?>\n"

CRON_JOB = {"url": CALLBACK, "cron": "0 15 10 ? * *"}
WHEN_JOB = {
    "url": CALLBACK,
    "contentType": "text/plain",
    "data": "testing",
    "when": "2026-12-01T15:30:00+01:00",
}
NEW_JOB = {"a daily job (Quartz cron, in UTC)": CRON_JOB, "a one-time job": WHEN_JOB}
NEW_JOB_XML = Text(
    {"allOf": [JobDocument], "xml": {"name": "job"}},
    f"<job><url>{CALLBACK}</url><contentType>text/plain</contentType><data>testing</data>"
    "<when>2026-12-01T15:30:00+01:00</when></job>",
)

JOB = {
    "id": JOB_ID,
    "account": "example",
    "url": CALLBACK,
    "cron": "0 15 10 ? * *",
    "next": "2026-11-24T10:15:00Z",
}
JOB_XML = Text(
    {"allOf": [replies.Job], "xml": {"name": "job"}},
    f"{XML_HEAD}<job><id>{JOB_ID}</id><account>example</account><url>{CALLBACK}</url>"
    "<cron>0 15 10 ? * *</cron><next>2026-11-24T10:15:00Z</next></job>",
)
JOB_ID_TEXT = Text({"type": "string", "description": "the new job's id"}, JOB_ID)
SHORTCUT = "0+15+10+%3F+*+*/https%3A%2F%2Fexample.com%2Fmy-callback"

IDS = [JOB_ID, OTHER_ID]
IDS_SCHEMA: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
IDS_TEXTS = {
    formats.TEXT: Text({"type": "string", "description": "ids, comma-separated"}, ",".join(IDS)),
    **dict.fromkeys(
        formats.XML_TYPES,
        Text(
            {
                **IDS_SCHEMA,
                "items": {"type": "string", "xml": {"name": "id"}},
                "xml": {"name": "jobs"},
            },
            f"{XML_HEAD}<jobs><id>{JOB_ID}</id><id>{OTHER_ID}</id></jobs>",
        ),
    ),
}

RUNS = [
    {
        "execution": EXECUTION,
        "attempt": 2,
        "status": "succeeded",
        "due": "2026-11-23T10:59:56.840Z",
        "finished": "2026-11-23T11:00:12.051Z",
        "httpStatus": 200,
        "latencyMs": 84,
        "lateMs": 15127,
    },
    {
        "execution": EXECUTION,
        "attempt": 1,
        "status": "retrying",
        "due": "2026-11-23T10:59:56.840Z",
        "finished": "2026-11-23T10:59:57.112Z",
        "httpStatus": 503,
        "latencyMs": 61,
        "lateMs": 12,
        "error": "HTTP 503",
    },
]
DEAD_LETTERS = [
    {
        "execution": EXECUTION,
        "job": OTHER_ID,
        "attempts": 5,
        "due": "2026-11-23T10:59:56.840Z",
        "died": "2026-11-23T11:31:02.417Z",
        "error": "HTTP 503",
    }
]

ERROR_TEXTS = {
    formats.TEXT: Text({"type": "string"}, "no job '6efa63ed-0000-4000-8000-000000000000'"),
    **dict.fromkeys(
        formats.XML_TYPES,
        Text(
            {"type": "string", "xml": {"name": "error"}},
            f"{XML_HEAD}<error>no job '6efa63ed-0000-4000-8000-000000000000'</error>",
        ),
    ),
}
ERRORS = {
    400: {
        "error": "cron: '0,5 * * * *' fires 300 s apart at times; a job may fire at most once "
        "every ten minutes"
    },
    401: {"error": "authentication required: HTTP Basic with appkey:master_secret"},
    403: {"error": QUOTA_REACHED},
    404: {"error": "no job '6efa63ed-0000-4000-8000-000000000000'"},
    405: {"error": METHOD_NOT_ALLOWED},
    406: {"error": "Accept: this call answers in application/json, text/xml, application/xml"},
    413: {"error": "body is larger than 16384 bytes"},
    415: {
        "error": "Content-Type 'text/csv': send one of application/json, text/xml, application/xml"
    },
    429: {"error": RATE_LIMITED},
    503: {"error": STORE_UNREACHABLE},
}

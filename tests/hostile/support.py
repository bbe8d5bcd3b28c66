"""The hostile corpus's requests: each dialect's valid request with one field replaced, its
error shape, and the check that an answer is a refusal naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient

from tests.support import basic
from tests.test_fuzz_all import JOB, NATIVE, TASK, push_document

DIGITS = "9" * 5000  # int() refuses more than 4300 digits


def json_with(doc: dict[str, Any], path: str, literal: str) -> bytes:
    """``doc`` as JSON text with the field at ``path`` (dots; ``[0]`` for a list's first item)
    set to the JSON text ``literal``, which may be no valid JSON at all (NaN, 5000 digits)."""
    marker = "__HOSTILE__"
    doc = json.loads(json.dumps(doc))
    target: Any = doc
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target.setdefault(part, {})
    last = parts[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = marker
    else:
        target[last] = marker
    return json.dumps(doc).replace(f'"{marker}"', literal).encode()


def webhook_error(response: Any) -> str:
    return response.get_json()["error"]


def push_error(response: Any) -> str:
    error = response.get_json()["error"]
    assert isinstance(error["code"], int) and 28100 <= error["code"] < 28300
    return error["message"]


def task_error(response: Any) -> str:
    body = response.get_json()
    assert body["success"] == 0
    return body["message"]


def beacon_error(response: Any) -> str:
    return response.get_json()["error"]


def native_error(response: Any) -> str:
    """A problem document (RFC 9457): its detail, and each field it names."""
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    named = " ".join(error["field"] for error in body.get("errors", []))
    return f"{body['detail']} [{named}]"


class Api:
    """The app, an account, and one request per dialect with a field replaced."""

    def __init__(self, app: Flask, creds: dict[str, str]) -> None:
        self.client: FlaskClient = app.test_client()
        self.app = app
        self.creds = creds
        self.auth = basic(creds)

    def webhook(self, field: str, literal: str) -> Any:
        body = json_with(JOB, field, literal)
        headers = {**self.auth, "Content-Type": "application/json", "Accept": "application/json"}
        return self.client.post("/1/jobs", data=body, headers=headers)

    def push(self, field: str, literal: str) -> Any:
        body = json_with(push_document(), field, literal)
        return self.client.post("/v4/schedules", data=body, headers=self.auth)

    def task(self, field: str, literal: str) -> Any:
        body = json_with(TASK, field, literal)
        url = "/api/v1/api.php?target=scheduler&action=addTask"
        return self.client.post(url, data=body, headers=self.auth)

    def native(self, field: str, literal: str, doc: dict[str, Any] | None = None) -> Any:
        body = json_with(doc or NATIVE, field, literal)
        headers = {**self.auth, "Content-Type": "application/json"}
        return self.client.post("/v1/schedules", data=body, headers=headers)

    def beacon(self, fields: dict[str, str | bytes], action: str = "create", path: str = "") -> Any:
        form = {"name": "hostile", "q": "1", "tasks": "[]"} if action == "create" else {}
        form = {**form, **fields, "userkey": self.creds["userkey"]}
        body = "&".join(f"{quote(k)}={quote(v)}" for k, v in form.items())
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.client.post(f"/api/jobs{path}?action={action}", data=body, headers=headers)


def assert_refused(response: Any, error_of: Callable[[Any], str], *names: str) -> None:
    """A 4xx in the dialect's shape whose message names one of ``names``."""
    text = response.get_data(as_text=True)[:500]
    assert 400 <= response.status_code < 500, (response.status_code, text)
    message = error_of(response)
    assert any(name in message for name in names), (names, message[:300])

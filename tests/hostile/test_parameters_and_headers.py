"""Numbers in the query string and the path, callback URLs, raw bodies and credentials."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tests.hostile.support import (
    DIGITS,
    Api,
    assert_refused,
    beacon_error,
    push_error,
    task_error,
    webhook_error,
)

# --- numbers in the query string and the path ---------------------------------------------------

NUMBERS = ("\u0661\u0662", "\u00b2", "\u00b9\u0038", "\uff11", DIGITS, "1e3", "0x10", "NaN")


@pytest.mark.parametrize("number", NUMBERS, ids=range(len(NUMBERS)))
def test_numeric_parameters_take_ascii_digits_only(api: Api, number: str) -> None:
    raw = quote(number.encode().decode("unicode_escape") if "\\u" in number else number)
    key = api.creds["userkey"]
    tasks = "/api/v1/api.php?target=scheduler&action="
    page = api.client.get(f"/v4/schedules?page={raw}", headers=api.auth)
    assert_refused(page, push_error, "page")
    for action in ("deleteTask", "executeTask", "getTaskHistory"):
        answer = api.client.get(f"{tasks}{action}&taskId={raw}", headers=api.auth)
        assert_refused(answer, task_error, "taskId", "task")
    for name in ("id", "q_time", "cur_task", "total_tasks"):
        answer = api.client.get(f"/api/jobs?action=list&userkey={key}&{name}={raw}")
        assert_refused(answer, beacon_error, name)
    answer = api.client.get(f"/api/jobs/{raw}?userkey={key}")
    assert_refused(answer, beacon_error, "job")
    answer = api.beacon({"curtask": number.encode().decode("unicode_escape")}, "update", "/1")
    assert_refused(answer, beacon_error, "curtask", "job")


# --- callback URLs, bodies, credentials ---------------------------------------------------------

BAD_IPV6_URLS = (
    "http://[::1/",
    "http://[::1]x/",
    "http://[1:2:3:4:5:6:7:8:9]/",
    "http://[::ffff:999.1.1.1]/",
    "http://[]/",
    "http://[v1.x]/",
    "http://[fe80::1%eth0]/",
    "http://[:::1]/",
    "http://[::1]]/",
    "http://[[::1]]/",
    "http://[12345::]/",
    "http://[::1]:99999/",
    "http://[::1]:-1/",
    "http://[\u0661::]/",
)


@pytest.mark.parametrize("url", BAD_IPV6_URLS)
def test_malformed_ipv6_literals_in_a_callback_url_are_refused(api: Api, url: str) -> None:
    assert_refused(api.webhook("url", json.dumps(url)), webhook_error, "url")
    path = f"/1/jobs/{quote('0 15 10 ? * *', safe='')}/{quote(url, safe='')}"
    answer = api.client.post(path, headers={**api.auth, "Accept": "application/json"})
    assert_refused(answer, webhook_error, "url")


INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf")


@pytest.mark.parametrize("raw", INVALID_UTF8, ids=range(len(INVALID_UTF8)))
def test_raw_invalid_utf8_bodies_are_refused(api: Api, raw: bytes) -> None:
    body = b'{"name": "' + raw + b'"}'
    json_type = {"Content-Type": "application/json", "Accept": "application/json"}
    answers = (
        (api.client.post("/1/jobs", data=body, headers={**api.auth, **json_type}), webhook_error),
        (api.client.post("/v4/schedules", data=body, headers=api.auth), push_error),
        (
            api.client.post(
                "/api/v1/api.php?target=scheduler&action=addTask", data=body, headers=api.auth
            ),
            task_error,
        ),
    )
    for answer, error_of in answers:
        assert_refused(answer, error_of, "UTF-8")
    shortcut = f"/1/jobs/{quote('0 15 10 ? * *', safe='')}/{quote('https://example.com/', safe='')}"
    answer = api.client.post(shortcut, data=raw, headers={**api.auth, "Accept": "application/json"})
    assert_refused(answer, webhook_error, "data")
    form = b"name=" + quote(raw).encode() + b"&q=1&tasks=" + quote(b"[" + raw + b"]").encode()
    answer = api.client.post(
        f"/api/jobs?action=create&userkey={api.creds['userkey']}",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code < 500  # werkzeug reads form bytes as UTF-8 with replacement


AUTHORIZATION = (
    "Basic",
    "Basic ",
    "Basic !!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b":").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "Basic " + base64.b64encode("\u0661:\u0662".encode()).decode(),
    "Basic " + base64.b64encode(b"a:b\x00c").decode(),
    "Basic " + "A" * 4000,
    "Basic \u00e9\u00e8",
    "Basic \xff\xfe",
    "Bearer \ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
    "Digest username=x",
    "\x00",
)


@pytest.mark.parametrize("header", AUTHORIZATION, ids=range(len(AUTHORIZATION)))
def test_hostile_authorization_headers_are_a_401(api: Api, header: str) -> None:
    cases = (
        ("/1/jobs", webhook_error),
        ("/v4/schedules", push_error),
        ("/api/v1/api.php?target=scheduler&action=getTasks", task_error),
    )
    for url, error_of in cases:
        hostile = {"Authorization": header, "Accept": "application/json"}
        answer = api.client.get(url, headers=hostile)
        assert answer.status_code == 401, (url, answer.status_code, answer.get_data()[:200])
        assert error_of(answer)
    for userkey in ("\u0661\u0662", "%00", "%FF%FE", "x" * 5000, "%ED%A0%80"):
        answer = api.client.get(f"/api/jobs?userkey={userkey}", headers={"Authorization": header})
        assert answer.status_code == 401 and beacon_error(answer)

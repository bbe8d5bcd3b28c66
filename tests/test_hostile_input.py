"""Never a 500 on bad input: a corpus of hostile values, in every field, of every dialect.

Each case takes a request the dialect accepts and puts one hostile value in one field (a JSON
literal as the client writes it, or a parameter's text); the answer must be a 4xx in the
dialect's error shape whose message names the field. Also: numeric parameters with Unicode or
thousands of digits, malformed IPv6 literals in callback URLs, CR/LF/NUL in values that become
outgoing headers, non-ASCII and binary ``Authorization`` headers, ``HEAD`` and ``OPTIONS`` on
every route. At the end, no NaN or Infinity is stored anywhere in Redis.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import UNLIMITED, basic
from tests.test_fuzz_all import JOB, TASK, push_document

DIGITS = "9" * 5000  # int() refuses more than 4300 digits
# Hostile JSON literals, as a client writes them: the value of one field.
LITERALS = {
    "lone-surrogate": '"\\ud800"',
    "lone-low-surrogate": '"a\\udfffb"',
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e999": "1e999",
    "-1e999": "-1e999",
    "huge-int": DIGITS,
    "huge-negative-int": "-" + DIGITS,
    "4301-digits": "1" + "0" * 4300,
    "unicode-digits": '"\u0661\u0662"',
    "superscript-digits": '"\u00b2"',
    "deep-64": "[" * 64 + "1" + "]" * 64,
    "deep-object": '{"a":' * 40 + "1" + "}" * 40,
    "very-deep": "[" * 100_000 + "]" * 100_000,
    "nul": '"a\\u0000b"',
    "crlf": '"a\\r\\nX-Injected: 1"',
    "huge-float": "1.7976931348623157e309",
    "negative": "-1",
    "null": "null",
    "object": '{"\\ud800": 1}',
}
TIMES_ISO = {
    "year-0": '"0000-01-01T00:00:00Z"',
    "year-10000": '"10000-01-01T00:00:00Z"',
    "month-13": '"2030-13-01T00:00:00Z"',
    "feb-30": '"2030-02-30T00:00:00Z"',
    "utc-past-9999": '"9999-12-31T23:59:59-23:59"',
    "before-1": '"-0001-01-01T00:00:00Z"',
    "unicode-digits": '"\u0662\u0660\u0663\u0660-01-01T00:00:00Z"',
}
TIMES_WALL = {
    "year-0": '"0000-01-01 00:00:00"',
    "year-10000": '"10000-01-01 00:00:00"',
    "year-9999": '"9999-12-31 23:59:59"',
    "month-13": '"2030-13-01 00:00:00"',
    "feb-30": '"2030-02-30 10:00:00"',
    "unicode-digits": '"\u0662\u0660\u0663\u0660-01-01 00:00:00"',
}
DATES = {
    "year-0": '"0000-01-01"',
    "year-10000": '"10000-01-01"',
    "feb-30": '"2030-02-30"',
    "month-13": '"2030-13-01"',
    "unicode-digits": '"\u0662\u0660\u0663\u0660-01-01"',
}
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
HEADER_VALUES = {
    "crlf": '"text/plain\\r\\nX-Injected: 1"',
    "lf": '"a\\nb"',
    "cr": '"a\\rb"',
    "nul": '"a\\u0000b"',
    "vertical-tab": '"a\\u000bb"',
    "non-ascii": '"caf\\u00e9"',
    "leading-space": '" text/plain"',
}


# --- each dialect: a valid request with one field replaced, and its error shape ---------------


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


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app and account for the whole corpus (hundreds of cases: no app per case)."""
    redis.Redis.from_url(redis_url).flushdb()
    data_dir = tmp_path_factory.mktemp("hostile")
    config = Config.from_env({}, redis_url=redis_url, data_dir=str(data_dir), **UNLIMITED)
    store = Store.from_url(redis_url, config.key_prefix)
    creds = create_account(store, "hostile", secret_key=load_secret_key(config))
    yield Api(create_app(config), creds)


# --- the corpus --------------------------------------------------------------------------------

WEBHOOK_FIELDS = ("url", "cron", "when", "data", "contentType", "signature")
PUSH_FIELDS = (
    "name",
    "enabled",
    "trigger.single.time",
    "trigger.single.zone_type",
    "push.from",
    "push.to.registration_id",
    "push.to.registration_id[0]",
    "push.body.platform",
    "push.body.notification.alert",
    "push.body.message",
    "push.options",
    "push.request_id",
    "push.custom_args",
)
TASK_FIELDS = (
    "user_id",
    "name",
    "class_name",
    "data",
    "active",
    "repeat_items[0].repeat_hour",
    "repeat_items[0].repeat_minute",
    "repeat_items[0].repeat_start",
    "repeat_items[0].repeat_end",
    "repeat_items[0].repeat_interval",
    "repeat_items[0].repeat_weekday",
)
# Values that are acceptable in some fields (a string where any string goes, -1 for a minute
# that is then out of range...) are still refused there: every field here rejects each of them.
ACCEPTABLE = {
    ("webhook", "data", "unicode-digits"),
    ("webhook", "data", "superscript-digits"),
    ("webhook", "data", "nul"),
    ("webhook", "data", "crlf"),
    ("webhook", "data", "null"),
    ("webhook", "contentType", "null"),
    ("webhook", "signature", "null"),
    ("push", "push.custom_args", "negative"),
    ("push", "push.custom_args", "null"),
    ("push", "push.custom_args", "unicode-digits"),
    ("push", "push.custom_args", "superscript-digits"),
    ("push", "push.custom_args", "nul"),
    ("push", "push.custom_args", "crlf"),
    ("push", "push.body.notification.alert", "negative"),
    ("push", "push.body.notification.alert", "null"),
    ("push", "push.body.notification.alert", "unicode-digits"),
    ("push", "push.body.notification.alert", "superscript-digits"),
    ("push", "push.body.notification.alert", "nul"),
    ("push", "push.body.notification.alert", "crlf"),
    ("push", "push.body.notification.alert", "deep-64"),
    ("push", "push.body.notification.alert", "deep-object"),
    ("push", "push.name", "unicode-digits"),
    ("push", "name", "unicode-digits"),
    ("push", "name", "superscript-digits"),
    ("push", "push.from", "unicode-digits"),
    ("push", "push.from", "superscript-digits"),
    ("push", "push.from", "nul"),
    ("push", "push.from", "crlf"),
    ("push", "push.request_id", "unicode-digits"),
    ("push", "push.request_id", "superscript-digits"),
    ("push", "push.request_id", "nul"),
    ("push", "push.request_id", "crlf"),
    ("push", "push.to.registration_id[0]", "unicode-digits"),
    ("push", "push.to.registration_id[0]", "superscript-digits"),
    ("push", "push.to.registration_id[0]", "nul"),
    ("push", "push.to.registration_id[0]", "crlf"),
    ("task", "name", "unicode-digits"),
    ("task", "name", "superscript-digits"),
    ("task", "name", "nul"),
    ("task", "name", "crlf"),
    ("task", "data", "negative"),
    ("task", "data", "null"),
    ("task", "data", "unicode-digits"),
    ("task", "data", "superscript-digits"),
    ("task", "data", "nul"),
    ("task", "data", "crlf"),
    ("task", "data", "deep-object"),
    ("task", "repeat_items[0].repeat_end", "null"),
    ("task", "repeat_items[0].repeat_interval", "null"),
    ("task", "repeat_items[0].repeat_start", "null"),
    ("task", "repeat_items[0].repeat_weekday", "null"),
    ("task", "repeat_items[0].repeat_weekday", "negative"),
    ("task", "repeat_items[0].repeat_hour", "null"),
    ("task", "repeat_items[0].repeat_minute", "null"),
}


def leaf(path: str) -> str:
    """The name a message must hold: the field's own name (``repeat_items[0].repeat_hour``
    -> ``repeat_hour``; a list item -> its list's name)."""
    return re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]


def json_cases() -> Iterator[Any]:
    plans: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
        ("webhook", WEBHOOK_FIELDS, LITERALS),
        ("webhook", ("when",), TIMES_ISO),
        ("webhook", ("contentType", "signature"), HEADER_VALUES),
        ("push", PUSH_FIELDS, LITERALS),
        ("push", ("trigger.single.time",), TIMES_WALL),
        ("task", TASK_FIELDS, LITERALS),
        ("task", ("repeat_items[0].repeat_start", "repeat_items[0].repeat_end"), DATES),
    ]
    for dialect, fields, values in plans:
        for field in fields:
            for name, literal in values.items():
                if (dialect, field, name) in ACCEPTABLE:
                    continue
                yield pytest.param(dialect, field, literal, id=f"{dialect}-{field}-{name}")


ERRORS = {"webhook": webhook_error, "push": push_error, "task": task_error}


@pytest.mark.parametrize(("dialect", "field", "literal"), list(json_cases()))
def test_a_hostile_json_value_is_refused_naming_its_field(
    api: Api, dialect: str, field: str, literal: str
) -> None:
    response = getattr(api, dialect)(field, literal)
    # Nesting past the parser's own recursion limit can't be traced to a field: "body" it is.
    names = (leaf(field), "body") if literal.startswith("[" * 1000) else (leaf(field),)
    assert_refused(response, ERRORS[dialect], *names)


BEACON_FIELDS = {
    "q_time": ("\u0661\u0662", "\u00b2", DIGITS, "-1", "253402300800", "NaN", "1e999", "0x10"),
    "start_date": ("\u0661\u0662", DIGITS, "-5", "Infinity", "99999999999999999999"),
    "end_date": ("\u0661\u0662", DIGITS, "253402300800", "1.5"),
    "q": ("\u0661", "\u00b9", "yes", "NaN"),
    "schedule": ("\u0661", "2", "Infinity"),
    "min": ("\u0661\u0662", "\u00b2", DIGITS, "60", "*/0", "\x00"),
    "hour": ("\u0662\u0664", "24", DIGITS),
    "dow": ("\u0661", "8", "MON-\u0661"),
    "tasks": tuple(LITERALS.values()) + ("[" + "{}," * 101 + "{}]", "[1]", '{"a": 1}'),
    "name": ("", "x" * 201),
    "beacon_name": ("x" * 201,),
}


def beacon_cases() -> Iterator[Any]:
    for field, values in BEACON_FIELDS.items():
        for n, value in enumerate(values):
            yield pytest.param(field, value, id=f"beacon-{field}-{n}")


@pytest.mark.parametrize(("field", "value"), list(beacon_cases()))
def test_a_hostile_beacon_parameter_is_refused_naming_it(api: Api, field: str, value: str) -> None:
    fields = {field: value}
    if field in ("min", "hour", "dow", "start_date", "end_date"):  # read only when scheduled
        fields["schedule"] = "1"
    assert_refused(api.beacon(fields), beacon_error, field)


def test_hostile_results_of_a_beacon_job_are_refused_naming_the_result(api: Api) -> None:
    job = api.beacon({})
    number = str(job.get_json()["id"])
    assert api.beacon({}, "pickup", f"/{number}").status_code == 200
    assert api.beacon({}, "start", f"/{number}").status_code == 200
    for name, literal in LITERALS.items():
        if name in ("negative", "null", "unicode-digits", "superscript-digits", "nul", "crlf"):
            continue  # JSON values a task's result may well be
        fields = {"result[]": '{"status": "ok"}', "result": literal}
        response = api.beacon(fields, "end", f"/{number}")
        names = ("result", "body") if name == "very-deep" else ("result",)
        assert_refused(response, beacon_error, *names)
    assert api.client.get(
        f"/api/jobs/{number}?userkey={api.creds['userkey']}"
    ).get_json()["status"] == "started"


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


# --- every route, every method -------------------------------------------------------------------


def concrete_paths(app: Flask) -> Iterator[tuple[str, set[str]]]:
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?(\w+)>", "1", rule.rule)
        yield path, set(rule.methods or ())


def test_head_and_options_on_every_route_answer_without_server_errors(api: Api) -> None:
    headers = {**api.auth, "Accept": "application/json"}
    seen = 0
    for path, methods in concrete_paths(api.app):
        for query in ("", f"?userkey={api.creds['userkey']}&target=scheduler&action=getTasks"):
            head = api.client.head(path + query, headers=headers)
            ready = path == "/readyz" and head.status_code == 503  # no beat runs here
            assert head.status_code < 500 or ready, (path, head.status_code)
            assert head.get_data() == b""
            options = api.client.options(path + query, headers=headers)
            assert options.status_code == 200, (path, options.status_code)
            allowed = set(options.headers["Allow"].split(", "))
            assert methods <= allowed, (path, allowed)
            seen += 1
    assert seen >= 40


def test_a_405_keeps_its_allow_header_in_each_dialect(api: Api) -> None:
    for path, error_of in (
        ("/1/jobs", webhook_error),
        ("/v4/schedules", push_error),
        ("/api/jobs/scheduled", beacon_error),
    ):
        answer = api.client.patch(path, headers={**api.auth, "Accept": "application/json"})
        assert answer.status_code == 405 and error_of(answer)
        assert "GET" in answer.headers["Allow"]


# --- and nothing of it was stored -----------------------------------------------------------------

JSON_NON_FINITE = re.compile(rb"[:\[,]\s*-?(NaN|Infinity)\b")


def test_zz_no_nan_or_infinity_is_stored_anywhere(api: Api, redis_url: str) -> None:
    """Runs after the corpus above (same module-wide Redis): scan every value."""
    client = redis.Redis.from_url(redis_url)
    scanned = 0
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key) or b""]
        elif kind == b"hash":
            values = list(client.hgetall(key).values())
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"zset":
            values = client.zrange(key, 0, -1)
        elif kind == b"set":
            values = list(client.smembers(key))
        else:
            continue
        for value in values:
            assert not JSON_NON_FINITE.search(value), (key, value[:200])
        scanned += 1
    assert scanned  # the account, the schedules the corpus did not refuse...

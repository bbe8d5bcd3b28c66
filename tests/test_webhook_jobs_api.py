"""The "Job Scheduler API" (/1/jobs) on a real Redis: every example document, every format,
the rules and the error shapes. Delivery itself is covered by tests/test_webhook_jobs_e2e.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import basic, now_ms

UUID_LEN = 36


def future(hours: int = 24) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api(config: Config, store: Store) -> FlaskClient:
    return create_app(config).test_client()


@pytest.fixture
def acme(config: Config, store: Store) -> dict[str, str]:
    return create_account(store, "example", secret_key=load_secret_key(config), now_ms=now_ms())


@pytest.fixture
def auth(acme: dict[str, str]) -> dict[str, str]:
    return basic(acme)


# The seed document's example requests, verbatim (only the 2011 date moved into the future).
RECURRING_JSON = """{
  "url": "https://example.com/my-callback",
  "cron": "0 15 10 ? * *",
}"""
SINGLE_JSON = """{
  "url": "https://example.com/my-callback",
  "signature": "507aaa0733464499847c930db95983f8994ae266",
  "contentType": "text/plain",
  "data": "testing",
  "when": "WHEN"
}"""
RECURRING_XML = """<job>
  <url>https://example.com/my-callback</url>
  <cron>0 15 10 ? * *</cron>
</job>"""
SINGLE_XML = """<job>
  <url>https://example.com/my-callback</url>
  <signature>507aaa0733464499847c930db95983f8994ae266</signature>
  <contentType>text/plain</contentType>
  <data>testing</data>
  <when>WHEN</when>
</job>"""


def create(api: FlaskClient, auth: dict[str, str], body: str, ctype: str, accept: str) -> Any:
    return api.post(
        "/1/jobs",
        data=body.replace("WHEN", future()),
        headers={**auth, "Content-Type": ctype, "Accept": accept},
    )


@pytest.mark.parametrize(
    "body,ctype",
    [
        (RECURRING_JSON, "application/json"),
        (RECURRING_XML, "text/xml"),
        (RECURRING_XML, "application/xml"),
    ],
)
def test_recurring_examples_answer_in_every_format(api, auth, body, ctype) -> None:
    text = create(api, auth, body, ctype, "text/plain")
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert len(text.get_data(as_text=True)) == UUID_LEN
    assert text.headers["Content-Length"] == str(len(text.data))

    as_json = create(api, auth, body, ctype, "application/json").get_json()
    assert set(as_json) == {"id", "account", "url", "cron", "next"}
    assert as_json["account"] == "example" and as_json["cron"] == "0 15 10 ? * *"
    assert as_json["next"].endswith("T10:15:00Z")  # UTC

    as_xml = create(api, auth, body, ctype, "application/xml")
    root = ElementTree.fromstring(as_xml.data)
    assert root.tag == "job" and root.findtext("cron") == "0 15 10 ? * *"
    assert root.findtext("next").endswith("T10:15:00Z")


@pytest.mark.parametrize(
    "body,ctype", [(SINGLE_JSON, "application/json"), (SINGLE_XML, "text/xml")]
)
def test_single_job_examples_keep_optional_fields_and_have_no_next(api, auth, body, ctype) -> None:
    job = create(api, auth, body, ctype, "application/json").get_json()
    assert job["signature"] == "507aaa0733464499847c930db95983f8994ae266"
    assert (job["contentType"], job["data"]) == ("text/plain", "testing")
    assert "when" in job and "next" not in job
    fetched = api.get(f"/1/jobs/{job['id']}", headers={**auth, "Accept": "text/xml"})
    assert ElementTree.fromstring(fetched.data).findtext("data") == "testing"


def test_list_answers_in_text_json_and_xml(api, auth) -> None:
    ids = [
        create(api, auth, RECURRING_JSON, "application/json", "text/plain").get_data(as_text=True)
        for _ in range(3)
    ]
    text = api.get("/1/jobs", headers={**auth, "Accept": "text/plain"})
    assert text.get_data(as_text=True) == ",".join(ids)
    assert api.get("/1/jobs", headers={**auth, "Accept": "application/json"}).get_json() == ids
    xml = ElementTree.fromstring(api.get("/1/jobs", headers={**auth, "Accept": "text/xml"}).data)
    assert [e.text for e in xml.findall("id")] == ids


def test_accept_quality_factors_pick_the_format(api, auth) -> None:
    create(api, auth, RECURRING_JSON, "application/json", "text/plain")
    answer = api.get("/1/jobs", headers={**auth, "Accept": "text/plain;q=0.2, text/xml;q=0.9"})
    assert answer.mimetype == "text/xml"
    refused = api.get("/1/jobs", headers={**auth, "Accept": "image/png"})
    assert refused.status_code == 406


def test_shortcut_creates_from_the_path(api, auth) -> None:
    when = future().replace(":", "%3A")
    one = api.post(
        f"/1/jobs/{when}/https%3A%2F%2Fexample.com",
        data=b"payload",
        headers={
            **auth,
            "Content-Type": "text/plain",
            "X-Content-Signature": "sig",
            "Accept": "application/json",
        },
    )
    assert one.status_code == 200, one.data
    job = one.get_json()
    assert (job["url"], job["data"], job["contentType"], job["signature"]) == (
        "https://example.com",
        "payload",
        "text/plain",
        "sig",
    )
    # the document's own example of a recurring shortcut
    recurring = api.post(
        "/1/jobs/0+15+10+%3F+*+*/https%3A%2F%2Fexample.com",
        headers={**auth, "Accept": "application/json"},
    )
    assert recurring.status_code == 200, recurring.data
    assert recurring.get_json()["cron"] == "0 15 10 ? * *"


def test_update_replaces_the_document_and_keeps_id_and_account(api, auth) -> None:
    job_id = create(api, auth, SINGLE_JSON, "application/json", "text/plain").get_data(as_text=True)
    put = api.put(
        f"/1/jobs/{job_id}",
        data=RECURRING_XML,
        headers={**auth, "Content-Type": "text/xml", "Accept": "application/json"},
    )
    job = put.get_json()
    assert job["id"] == job_id and job["account"] == "example"
    assert job["cron"] == "0 15 10 ? * *" and "data" not in job and "when" not in job


def test_delete_removes_the_job(api, auth) -> None:
    job_id = create(api, auth, RECURRING_JSON, "application/json", "text/plain").get_data(
        as_text=True
    )
    assert api.delete(f"/1/jobs/{job_id}", headers=auth).status_code == 204
    assert api.get(f"/1/jobs/{job_id}", headers=auth).status_code == 404


@pytest.mark.parametrize(
    "doc,field",
    [
        ({"url": "https://example.com/"}, "when"),  # neither when nor cron
        ({"url": "https://example.com/", "cron": "0 * * * *", "when": "WHEN"}, "when"),
        ({"url": "https://example.com/", "when": "2011-05-11T15:30:00Z"}, "when"),  # past
        ({"url": "https://example.com/", "when": "tomorrow"}, "when"),
        ({"url": "https://example.com/", "cron": "*/5 * * * *"}, "cron"),  # every 5 minutes
        ({"url": "https://example.com/", "cron": "0,5 * * * *"}, "cron"),  # 5 min apart, hourly
        ({"url": "https://example.com/", "cron": "0 0 32 * *"}, "cron"),
        ({"url": "ftp://example.com/", "cron": "0 * * * *"}, "url"),
        ({"cron": "0 * * * *"}, "url"),
        ({"url": "https://example.com/", "cron": "0 * * * *", "data": "x" * 2049}, "data"),
        ({"url": "https://example.com/", "cron": "0 * * * *", "colour": "red"}, "colour"),
        ({"url": "http://127.0.0.1/", "cron": "0 * * * *"}, "url"),
        ({"url": "http://2130706433/", "cron": "0 * * * *"}, "url"),
        ({"url": "http://169.254.169.254/", "cron": "0 * * * *"}, "url"),
    ],
)
def test_rules_are_refused_with_a_message_naming_the_field(api, auth, doc, field) -> None:
    body = json.dumps(doc).replace("WHEN", future())
    for accept, read in (
        ("application/json", lambda r: r.get_json()["error"]),
        ("text/plain", lambda r: r.get_data(as_text=True)),
        ("text/xml", lambda r: ElementTree.fromstring(r.data).text),
    ):
        answer = api.post(
            "/1/jobs",
            data=body,
            headers={**auth, "Content-Type": "application/json", "Accept": accept},
        )
        assert answer.status_code == 400
        assert field in read(answer)


def test_ten_minutes_apart_is_allowed(api, auth) -> None:
    ok = create(
        api,
        auth,
        '{"url":"https://example.com/","cron":"*/10 * * * *"}',
        "application/json",
        "text/plain",
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "body,ctype,status",
    [
        ("{", "application/json", 400),
        ("[" * 100_00 + "]" * 100_00, "application/json", 413),
        ("[" * 3000 + "]" * 3000, "application/json", 400),
        ('<!DOCTYPE x [<!ENTITY a "b">]><job><url>&a;</url></job>', "text/xml", 400),
        ("<job><url><x/></url></job>", "text/xml", 400),
        ("<other/>", "text/xml", 400),
        ("not xml", "application/xml", 400),
        ("url=x", "application/x-www-form-urlencoded", 415),
        ("\xff", "application/json", 400),
        ("x" * 20_000, "application/json", 413),
        ("[]", "application/json", 400),
    ],
)
def test_hostile_or_malformed_bodies_get_a_clear_error(api, auth, body, ctype, status) -> None:
    answer = api.post(
        "/1/jobs",
        data=body.encode("latin-1", "replace") if "\xff" in body else body,
        headers={**auth, "Content-Type": ctype},
    )
    assert answer.status_code == status
    assert answer.get_json()["error"]


def test_authentication_and_isolation(api, auth, config, store) -> None:
    job_id = create(api, auth, RECURRING_JSON, "application/json", "text/plain").get_data(
        as_text=True
    )
    assert api.get("/1/jobs").status_code == 401
    wrong = basic({"appkey": "nope", "master_secret": "nope"})
    assert api.get("/1/jobs", headers=wrong).status_code == 401
    other = basic(
        create_account(store, "other", secret_key=load_secret_key(config), now_ms=now_ms())
    )
    assert api.get(f"/1/jobs/{job_id}", headers=other).status_code == 404
    assert api.delete(f"/1/jobs/{job_id}", headers=other).status_code == 404
    assert api.get("/1/jobs", headers={**other, "Accept": "application/json"}).get_json() == []
    assert api.get(f"/1/jobs/{job_id}", headers=auth).status_code == 200

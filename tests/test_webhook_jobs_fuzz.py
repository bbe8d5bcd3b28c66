"""/1/jobs under hostile input: thousands of seeded random documents, headers and paths.

Whatever arrives, the answer is a 2xx or a clear 4xx in the negotiated format (never a 5xx), and a
refused update leaves the stored job exactly as it was.
"""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import basic, now_ms

SEED = 20261123
ROUNDS = 600
FIELDS = ("url", "cron", "when", "data", "contentType", "signature", "id", "account", "next")
CONTENT_TYPES = (
    "application/json",
    "text/xml",
    "application/xml",
    "text/plain",
    "application/json; charset=latin-1",
    "multipart/form-data; boundary=x",
    "",
    "application/json;;;",
)
ACCEPTS = ("application/json", "text/xml", "text/plain", "*/*", "image/png", "text/*;q=0", "")
ALLOWED = {200, 201, 204, 400, 401, 404, 405, 406, 413, 415}


def hostile_value(rng: random.Random) -> Any:
    choices: list[Any] = [
        None,
        True,
        rng.randint(-(2**70), 2**70),
        rng.random() * 1e308,
        "",
        "x" * rng.choice((1, 2049, 70_000)),
        "\u0000\ud7ff\uffff\u202e",
        "https://example.com/" + "a" * rng.randint(0, 3000),
        "http://[::1]/",
        "http://2130706433/",
        "javascript:alert(1)",
        "0 15 10 ? * *",
        "* * * * *",
        "0 0 31 2 ?",
        "L W # ? *",
        "9999-12-31T23:59:59Z",
        "2026-13-45T25:61:61+99:00",
        "1970-01-01T00:00:00Z",
        [],
        {"a": [{"b": {}}]},
        [[[[[[]]]]]],
    ]
    return rng.choice(choices)


def hostile_document(rng: random.Random) -> dict[str, Any]:
    doc = {"url": "https://example.com/cb", "cron": "0 15 10 ? * *"}
    for _ in range(rng.randint(0, 4)):
        doc[rng.choice((*FIELDS, "extra", "", "<x>"))] = hostile_value(rng)
    if rng.random() < 0.2:
        doc.pop(rng.choice(list(doc)), None)
    return doc


def encode(doc: dict[str, Any], ctype: str, rng: random.Random) -> bytes:
    if "xml" in ctype:
        parts = "".join(f"<{k}>{v}</{k}>" for k, v in doc.items() if k.isidentifier())
        body = f"<job>{parts}</job>"
        if rng.random() < 0.2:
            body = '<!DOCTYPE job [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + body
        return body.encode("utf-8", "surrogatepass")
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.1:
        text = text[: rng.randint(0, len(text))]
    return text.encode("utf-8", "surrogatepass")


def assert_clear(answer: Any, accept: str) -> None:
    where = (answer.request.method, answer.request.path[:120], answer.status_code)
    assert answer.status_code in ALLOWED, (where, answer.data[:300])
    assert answer.headers["Content-Length"] == str(len(answer.data))
    if answer.status_code < 400 or not answer.data:
        return
    mimetype = answer.mimetype
    if mimetype == "application/json":
        assert json.loads(answer.data)["error"]
    elif mimetype.endswith("xml"):
        assert ElementTree.fromstring(answer.data).tag == "error"
    else:
        assert mimetype == "text/plain" and answer.data.strip(), (where, answer.data[:300])


@pytest.fixture
def api(config: Config) -> FlaskClient:
    return create_app(config).test_client()


def test_random_hostile_requests_get_clear_answers_and_never_corrupt_a_job(
    api: FlaskClient, config: Config, store: Store
) -> None:
    rng = random.Random(SEED)
    auth = basic(create_account(store, "fuzz", secret_key=load_secret_key(config), now_ms=now_ms()))
    kept = api.post(
        "/1/jobs",
        data='{"url": "https://example.com/kept", "cron": "0 15 10 ? * *"}',
        headers={**auth, "Content-Type": "application/json", "Accept": "text/plain"},
    ).get_data(as_text=True)
    kept_before = store.get_schedule(kept)
    seen: set[int] = set()
    for _ in range(ROUNDS):
        ctype, accept = rng.choice(CONTENT_TYPES), rng.choice(ACCEPTS)
        headers = {**auth, "Content-Type": ctype, "Accept": accept}
        body = encode(hostile_document(rng), ctype, rng)
        route = rng.randrange(4)
        if route == 0:
            answer = api.post("/1/jobs", data=body, headers=headers)
        elif route == 1:
            answer = api.put(f"/1/jobs/{kept}", data=body, headers=headers)
            if answer.status_code >= 400:
                assert store.get_schedule(kept) == kept_before
            else:
                kept_before = store.get_schedule(kept)
        elif route == 2:
            when, url = (str(hostile_value(rng)) for _ in range(2))
            path = f"/1/jobs/{quote(when, safe='')}/{quote(url, safe='')}"
            answer = api.post(path, data=body, headers=headers)
        else:
            junk = quote(str(hostile_value(rng))[:200], safe="")
            answer = rng.choice((api.get, api.delete))(f"/1/jobs/{junk}", headers=headers)
        assert_clear(answer, accept)
        seen.add(answer.status_code)
    assert store.get_schedule(kept) is not None
    # the inputs reached every kind of answer, not just the first check that refuses them
    assert {200, 400, 404, 405, 413, 415} <= seen, seen

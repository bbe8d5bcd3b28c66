"""The native API (/v1) through the Flask app on a real Redis: schedules, previews, pages,
problem documents, idempotency, API keys and scopes, account isolation."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.contract import RunStatus
from shared.model import RunRecord
from shared.store import Store
from tests.support import HOOK, basic, native_schedule, now_ms

Client = tuple[FlaskClient, dict[str, str]]
ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
PROBLEM = "application/problem+json"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_create_read_and_list_a_schedule(local_api: Client) -> None:
    client, creds = local_api
    made = native_schedule(client, basic(creds), timezone="Europe/Paris", metadata={"team": "ops"})
    assert made.status_code == 201, made.get_data(as_text=True)
    view = made.get_json()
    assert made.headers["Location"] == f"/v1/schedules/{view['id']}"
    assert view["state"] == "active" and view["timezone"] == "Europe/Paris"
    assert len(view["next_fires"]) == 5
    assert all(fire.endswith(("01:00:00Z", "02:00:00Z")) for fire in view["next_fires"])
    assert view["metadata"] == {"team": "ops"} and view["target"] == HOOK
    read = client.get(f"/v1/schedules/{view['id']}", headers=basic(creds)).get_json()
    assert read == view
    listed = client.get("/v1/schedules", headers=basic(creds)).get_json()
    assert [s["id"] for s in listed["items"]] == [view["id"]] and listed["next_cursor"] is None


def test_pages_follow_next_cursor(local_api: Client) -> None:
    client, creds = local_api
    ids = [native_schedule(client, basic(creds), name=f"s{n}").get_json()["id"] for n in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/schedules", query_string=query, headers=basic(creds)).get_json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"trigger": {}}, "trigger"),
        ({"trigger": {"cron": "0 3 * *", "at": "2030-01-01T00:00:00Z"}}, "trigger"),
        ({"trigger": {"cron": "61 3 * * *"}}, "trigger.cron"),
        ({"trigger": {"every": "P1M"}}, "trigger.every"),
        ({"trigger": {"rrule": "FREQ=SOMETIMES"}}, "trigger.rrule"),
        ({"trigger": {"at": "yesterday"}}, "trigger.at"),
        ({"trigger": {"at": "2001-01-01T00:00:00Z"}}, "trigger"),
        ({"target": {}}, "target"),
        ({"target": {"webhook": {"url": "http://10.0.0.1/"}}}, "target.webhook.url"),
        ({"target": {"webhook": {"url": "http://127.0.0.1/", "method": "TRACE"}}}, None),
        ({"target": {"task": {"class_name": "NoSuchClass"}}}, "target.task.class_name"),
        ({"target": {"push": {"notification": {}}}}, "target.push.to"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": 5}, "name"),
        ({"max_runs": 0}, "max_runs"),
        ({"overlap": "sometimes"}, "overlap"),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
        ({"catchup_window_s": -1}, "catchup_window_s"),
        ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "end"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_document_is_a_problem_naming_the_field(
    local_api: Client, doc: dict[str, Any], field: str | None
) -> None:
    client, creds = local_api
    answer = native_schedule(client, basic(creds), **doc)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.mimetype == PROBLEM
    problem = answer.get_json()
    assert problem["status"] == 422 and problem["title"] == HTTPStatus(422).phrase
    fields = [e["field"] for e in problem["errors"]]
    assert field is None or field in fields, problem
    if field == "target.webhook.url":
        assert "refused range" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400),
        (b"name=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ],
)
def test_an_unreadable_body_is_a_problem(
    local_api: Client, body: bytes, headers: dict[str, str], status: int
) -> None:
    client, creds = local_api
    answer = client.post("/v1/schedules", data=body, headers={**headers, **basic(creds)})
    assert answer.status_code == status and answer.mimetype == PROBLEM


def test_no_or_wrong_credentials_are_a_401_with_both_challenges(local_api: Client) -> None:
    client, creds = local_api
    for headers in ({}, bearer("sk_wrong"), {"Authorization": "Basic eDp5"}):
        answer = client.get("/v1/schedules", headers=headers)
        assert answer.status_code == 401 and answer.mimetype == PROBLEM
        assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_unknown_paths_and_methods_answer_problems(local_api: Client) -> None:
    client, creds = local_api
    assert client.get("/v1/nothing", headers=basic(creds)).mimetype == PROBLEM
    wrong = client.post("/v1/api-keys/abc", headers=basic(creds))
    assert wrong.status_code == 405 and wrong.mimetype == PROBLEM and "Allow" in wrong.headers


def test_put_patch_pause_resume_and_delete(local_api: Client) -> None:
    client, creds = local_api
    auth = basic(creds)
    view = native_schedule(client, auth).get_json()
    url = f"/v1/schedules/{view['id']}"
    replaced = client.put(
        url,
        json={"name": "hourly", "trigger": {"cron": "0 * * * *"}, "target": HOOK},
        headers=auth,
    ).get_json()
    assert replaced["name"] == "hourly" and replaced["created"] == view["created"]
    patched = client.patch(url, json={"metadata": {"a": "b"}, "name": "renamed"}, headers=auth)
    assert patched.get_json()["name"] == "renamed"
    assert patched.get_json()["trigger"] == {"cron": "0 * * * *"}

    paused = client.post(f"{url}/pause", headers=auth).get_json()
    assert paused["state"] == "paused" and paused["next_fires"] == []
    resumed = client.post(f"{url}/resume", headers=auth).get_json()
    assert resumed["state"] == "active" and len(resumed["next_fires"]) == 5

    assert client.delete(url, headers=auth).status_code == 204
    assert client.get(url, headers=auth).status_code == 404


def test_trigger_runs_and_preview_of_a_saved_schedule(local_api: Client) -> None:
    client, creds = local_api
    view = native_schedule(client, basic(creds), trigger={"every": "PT15M"}).get_json()
    url = f"/v1/schedules/{view['id']}"
    triggered = client.post(f"{url}/trigger", headers=basic(creds))
    assert triggered.status_code == 202
    assert triggered.get_json()["execution"].startswith(f"{view['id']}:run-")
    runs = client.get(f"{url}/runs", headers=basic(creds)).get_json()
    assert runs == {"items": [], "next_cursor": None}  # nothing ran yet: no worker here
    preview = client.get(f"{url}/preview?count=3", headers=basic(creds)).get_json()
    assert len(preview["fires"]) == 3


def test_preview_of_an_unsaved_rrule_stores_nothing(local_api: Client, store: Store) -> None:
    client, creds = local_api
    doc = {
        "trigger": {"rrule": "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"},
        "timezone": "America/New_York",
        "start": "2027-01-01T09:00:00-05:00",
        "count": 4,
    }
    answer = client.post("/v1/preview", json=doc, headers=basic(creds))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["fires"] == [
        "2027-01-04T14:00:00Z",  # first Mondays at 09:00 New York time (EST, then EDT)
        "2027-02-01T14:00:00Z",
        "2027-03-01T14:00:00Z",
        "2027-04-05T13:00:00Z",
    ]
    assert store.list_schedule_ids(creds["appkey"], "native", 0, -1) == []


def test_another_accounts_schedule_answers_404(local_api: Client, paris: dict[str, str]) -> None:
    client, creds = local_api
    view = native_schedule(client, basic(creds)).get_json()
    url = f"/v1/schedules/{view['id']}"
    other = basic(paris)
    for method, path in [
        ("get", url),
        ("put", url),
        ("patch", url),
        ("delete", url),
        ("post", f"{url}/pause"),
        ("post", f"{url}/resume"),
        ("post", f"{url}/trigger"),
        ("post", f"{url}/backfill"),
        ("get", f"{url}/runs"),
        ("get", f"{url}/preview"),
    ]:
        answer = getattr(client, method)(path, json={}, headers=other)
        assert answer.status_code in (404, 422), (method, path)
        if answer.status_code == 422:  # the body is checked first; then it is not found
            good = {"name": "x", "trigger": {"cron": "0 3 * * *"}, "target": HOOK}
            answer = getattr(client, method)(path, json=good, headers=other)
        assert answer.status_code == 404, (method, path)
    assert client.get("/v1/schedules", headers=other).get_json()["items"] == []


def test_an_idempotent_create_is_replayed_and_another_body_refused(
    local_api: Client, store: Store
) -> None:
    client, creds = local_api
    auth = {**basic(creds), "Idempotency-Key": "create-1"}
    first = native_schedule(client, auth)
    again = native_schedule(client, auth)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert len(store.list_schedule_ids(creds["appkey"], "native", 0, -1)) == 1
    other = native_schedule(client, auth, name="another")
    assert other.status_code == 422 and other.mimetype == PROBLEM
    assert other.get_json()["errors"][0]["field"] == "Idempotency-Key"
    refused = native_schedule(client, {**auth, "Idempotency-Key": "x" * 300})
    assert refused.status_code == 400


def test_api_keys_scopes_and_bearer_auth(local_api: Client) -> None:
    client, creds = local_api
    made = client.post(
        "/v1/api-keys", json={"name": "reader", "scopes": ["schedules:read"]}, headers=basic(creds)
    )
    assert made.status_code == 201
    key = made.get_json()["key"]
    reader = bearer(key)
    assert client.get("/v1/schedules", headers=reader).status_code == 200
    refused = native_schedule(client, reader)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert "schedules:write" in refused.get_json()["detail"]
    assert client.get("/v1/api-keys", headers=reader).status_code == 403

    listed = client.get("/v1/api-keys", headers=basic(creds)).get_json()["items"]
    assert [k["name"] for k in listed] == ["reader"] and "key" not in listed[0]
    assert key not in str(listed)
    deleted = client.delete(f"/v1/api-keys/{listed[0]['id']}", headers=basic(creds))
    assert deleted.status_code == 204
    assert client.get("/v1/schedules", headers=reader).status_code == 401


def test_a_key_cannot_make_a_stronger_key(local_api: Client) -> None:
    client, creds = local_api
    key = client.post(
        "/v1/api-keys",
        json={"name": "keys", "scopes": ["api-keys:write", "schedules:read"]},
        headers=basic(creds),
    ).get_json()["key"]
    stronger = {"name": "more", "scopes": ["schedules:write"]}
    assert client.post("/v1/api-keys", json=stronger, headers=bearer(key)).status_code == 403
    weaker = {"name": "less", "scopes": ["schedules:read"]}
    assert client.post("/v1/api-keys", json=weaker, headers=bearer(key)).status_code == 201


def test_webhook_secret_rotation_shows_the_new_secret_once(local_api: Client) -> None:
    client, creds = local_api
    answer = client.post("/v1/webhook-secret/rotate", json={"overlap_s": 60}, headers=basic(creds))
    assert answer.status_code == 200
    secret = answer.get_json()["webhook_secret"]
    assert secret.startswith("whsec_") and secret != creds["webhook_secret"]


def test_dead_letters_list_redrive_and_delete(local_api: Client, store: Store) -> None:
    client, creds = local_api
    appkey = creds["appkey"]
    for n in range(3):
        execution = {"id": f"s:{n}", "schedule": "s", "account": appkey, "dialect": "native"}
        execution.update(due_ms=now_ms(), attempt=3, target={"kind": "webhook", "spec": {}})
        store.redis.hset(
            store.keys.dead_letters(),
            f"s:{n}",
            json.dumps({"execution": execution, "died_ms": 1000 + n}),
        )
        store.redis.zadd(store.keys.account_dead_index(appkey, "native"), {f"s:{n}": 1000 + n})
        store.redis.zadd(store.keys.dead_index(), {f"s:{n}": 1000 + n})
    first = client.get("/v1/dead-letters?limit=2", headers=basic(creds)).get_json()
    assert [d["execution"] for d in first["items"]] == ["s:2", "s:1"]
    rest = client.get(
        f"/v1/dead-letters?limit=2&cursor={first['next_cursor']}", headers=basic(creds)
    ).get_json()
    assert [d["execution"] for d in rest["items"]] == ["s:0"] and rest["next_cursor"] is None
    assert client.post("/v1/dead-letters/s:2/redrive", headers=basic(creds)).status_code == 202
    assert client.delete("/v1/dead-letters/s:1", headers=basic(creds)).status_code == 204
    assert client.delete("/v1/dead-letters/s:1", headers=basic(creds)).status_code == 404
    left = client.get("/v1/dead-letters", headers=basic(creds)).get_json()["items"]
    assert [d["execution"] for d in left] == ["s:0"]


def test_a_bad_cursor_or_limit_is_a_400_naming_it(local_api: Client) -> None:
    client, creds = local_api
    for query, field in [("cursor=zzz", "cursor"), ("limit=0", "limit"), ("limit=x", "limit")]:
        answer = client.get(f"/v1/schedules?{query}", headers=basic(creds))
        assert answer.status_code == 400 and answer.mimetype == PROBLEM
        assert answer.get_json()["errors"][0]["field"] == field


def test_openapi_describes_bearer_scopes_and_idempotency_of_v1(local_api: Client) -> None:
    client, _ = local_api
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    operations = [
        (path, method, op)
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/")
        for method, op in ops.items()
    ]
    assert len(operations) >= 19
    for path, method, op in operations:
        assert op["security"] == [{"basic": []}, {"bearer": []}], (path, method)
        assert "Needs the scope" in op["description"], (path, method)
        headers = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
        assert ("Idempotency-Key" in headers) == (method == "post"), (path, method)
    create = spec["paths"]["/v1/schedules"]["post"]["requestBody"]["content"]
    assert create["application/json"]["example"]["trigger"] == {"cron": "30 2 * * *"}


def test_a_walk_of_runs_is_not_shifted_by_runs_arriving_meanwhile(
    local_api: Client, store: Store
) -> None:
    client, creds = local_api
    made = native_schedule(client, basic(creds), name="walked").get_json()

    def record(n: int) -> None:
        run = RunRecord(f"{made['id']}:{n}", made["id"], n, n, n, 10_000 + n,
                        RunStatus.SUCCEEDED, 1)  # fmt: skip
        store.finish_execution(
            run, "done", account=creds["appkey"], now_ms=now_ms(), history_cap=100,
            retention_s=60,
        )  # fmt: skip

    for n in range(4):
        record(n)
    path = f"/v1/schedules/{made['id']}/runs"
    first = client.get(path, query_string={"limit": 2}, headers=basic(creds)).get_json()
    record(4)  # newer than everything shown: must not push a shown run onto the next page
    rest = client.get(
        path, query_string={"limit": 10, "cursor": first["next_cursor"]}, headers=basic(creds)
    ).get_json()
    walked = [r["execution"] for r in first["items"] + rest["items"]]
    assert walked == [f"{made['id']}:{n}" for n in (3, 2, 1, 0)]

"""/v4/schedules through the Flask app against a real Redis: the document's examples, paging, and
every rule of the document refused with its code and a message naming the field."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.accounts import create_account
from shared.config import Config
from shared.store import Store
from shared.timing import parse_wall_clock
from tests.push_support import (
    JSON,
    UPDATE_EXAMPLE,
    doc,
    example,
    post,
    push_with,
    refused,
    wall,
)
from tests.support import UNLIMITED, basic, now_ms

# --- the document's examples -------------------------------------------------------------------


def test_the_create_example_is_accepted_and_read_back_verbatim(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store, paris: dict[str, str]
) -> None:
    api, _ = local_api
    when = wall(timedelta(hours=2), "Europe/Paris")
    created = post(api, paris, example(when=when))
    assert created.status_code == 200, created.get_data(as_text=True)
    answer = created.get_json()
    assert answer["name"] == "the schedule task example"
    sid = answer["schedule_id"]

    shown = api.get(f"/v4/schedules/{sid}", headers=basic(paris)).get_json()
    sent = json.loads(example(when=when))
    assert shown == {"schedule_id": sid, **sent}
    # the wall time is read in the account's zone (Europe/Paris), to the second
    local = parse_wall_clock(when).replace(tzinfo=ZoneInfo("Europe/Paris"))
    assert store.next_fire_ms(sid) == int(local.timestamp() * 1000)


def test_the_update_example_replaces_the_whole_schedule_even_sent_as_a_form(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    sid = post(api, creds, example()).get_json()["schedule_id"]
    when = wall(timedelta(hours=3))
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    updated = api.put(
        f"/v4/schedules/{sid}", data=example(UPDATE_EXAMPLE, when), headers={**basic(creds), **form}
    )
    assert updated.status_code == 200, updated.get_data(as_text=True)
    assert updated.get_json() == {"schedule_id": sid, **json.loads(example(UPDATE_EXAMPLE, when))}
    shown = api.get(f"/v4/schedules/{sid}", headers=basic(creds)).get_json()
    assert shown["name"] == "Timed Push Example"
    assert shown["push"]["body"]["platform"] == "ios"
    at = parse_wall_clock(when).replace(tzinfo=UTC)
    assert store.next_fire_ms(sid) == int(at.timestamp() * 1000)


def test_the_wrong_partial_update_of_the_document_is_refused_and_changes_nothing(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    sid = post(api, creds, example()).get_json()["schedule_id"]
    wrong = {"push": {"body": {"platform": "ios"}}}
    response = api.put(f"/v4/schedules/{sid}", json=wrong, headers=basic(creds))
    refused(response, 28100, 400, "name", "enabled", "trigger", "push.from", "push.to")
    shown = api.get(f"/v4/schedules/{sid}", headers=basic(creds)).get_json()
    assert shown["push"]["body"]["platform"] == "android"


def test_delete_answers_an_empty_200_then_the_schedule_is_gone(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    sid = post(api, creds, example()).get_json()["schedule_id"]
    deleted = api.delete(f"/v4/schedules/{sid}", headers=basic(creds))
    assert (deleted.status_code, deleted.data, deleted.headers["Content-Length"]) == (200, b"", "0")
    assert store.next_fire_ms(sid) is None
    refused(api.get(f"/v4/schedules/{sid}", headers=basic(creds)), 28104, 404, sid)
    refused(api.delete(f"/v4/schedules/{sid}", headers=basic(creds)), 28104, 404)


def test_msg_ids_of_a_schedule_not_yet_sent_are_empty_under_both_spellings(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    sid = post(api, creds, example()).get_json()["schedule_id"]
    for path in ("msg-ids", "msg_ids"):
        answer = api.get(f"/v4/schedules/{sid}/{path}", headers=basic(creds))
        assert answer.get_json() == {"count": 0, "msgids": []}


# --- listing -------------------------------------------------------------------------------------


def test_list_pages_by_50_in_creation_order(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    ids = []
    for n in range(120):
        created = post(api, creds, doc(name=f"schedule_{n}"))
        assert created.status_code == 200, created.get_data(as_text=True)
        ids.append(created.get_json()["schedule_id"])

    pages = [api.get(f"/v4/schedules?page={p}", headers=basic(creds)).get_json() for p in (1, 2, 3)]
    assert [(p["total_count"], p["total_pages"], p["page"]) for p in pages] == [
        (120, 3, 1),
        (120, 3, 2),
        (120, 3, 3),
    ]
    assert [len(p["schedules"]) for p in pages] == [50, 50, 20]
    listed = [s["schedule_id"] for p in pages for s in p["schedules"]]
    assert listed == ids
    assert pages[0]["schedules"][0]["name"] == "schedule_0"
    assert set(pages[0]["schedules"][0]) == {"schedule_id", "name", "enabled", "trigger", "push"}

    past_end = api.get("/v4/schedules?page=7", headers=basic(creds)).get_json()
    assert past_end == {"total_count": 120, "total_pages": 3, "page": 7, "schedules": []}
    for query in ("", "?page=", "?page=1"):
        first = api.get(f"/v4/schedules{query}", headers=basic(creds)).get_json()
        assert first["page"] == 1 and first["schedules"] == pages[0]["schedules"]
    for bad in ("0", "-1", "two", "1.5"):
        refused(api.get(f"/v4/schedules?page={bad}", headers=basic(creds)), 28100, 400, "page")


# --- rules of the document -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": "x" * 256}, ["name", "255 bytes"]),
        ({"name": "定" * 86}, ["name", "258 bytes"]),  # 3 bytes each in UTF-8
        ({"name": "bad/name!"}, ["name", "letters"]),
        ({"name": ""}, ["name"]),
        ({"name": 5}, ["name"]),
        ({"enabled": False}, ["enabled", "true"]),
        ({"enabled": "true"}, ["enabled"]),
        ({"trigger": {"single": {"time": "2099-2-15 13:16:59", "zone_type": 1}}}, ["time"]),
        ({"trigger": {"single": {"time": "2099-12-15 13:16", "zone_type": 1}}}, ["time"]),
        ({"trigger": {"single": {"time": "2099-02-30 13:16:00", "zone_type": 1}}}, ["time"]),
        ({"trigger": {"single": {"time": "2020-12-15 13:16:59", "zone_type": 1}}}, ["future"]),
        ({"trigger": {"single": {"time": "2099-12-15 13:16:59", "zone_type": 1}}}, ["one year"]),
        ({"trigger": {"single": {"time": "2099-12-15 13:16:59", "zone_type": 3}}}, ["zone_type"]),
        ({"trigger": {"single": {"time": "2099-12-15 13:16:59", "zone_type": "1"}}}, ["zone_type"]),
        ({"trigger": {"single": {"time": "2099-12-15 13:16:59"}}}, ["zone_type"]),
        ({"trigger": {"cron": "* * * * *"}}, ["trigger.cron", "trigger.single"]),
        ({"push": {}}, ["push.from", "push.to", "push.body"]),
        ({"push": "hello"}, ["push"]),
    ],
)
def test_a_schedule_breaking_a_rule_is_refused_naming_the_field(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    change: dict[str, Any],
    words: list[str],
) -> None:
    api, creds = local_api
    refused(post(api, creds, doc(**change)), 28100, 400, *words)
    assert store.count_schedules(creds["appkey"], "push_schedules") == 0


@pytest.mark.parametrize(
    ("push_doc", "words"),
    [
        (push_with(to={}), ["push.to", "registration_id"]),
        (push_with(to={"registration_id": []}), ["push.to.registration_id"]),
        (push_with(to={"registration_id": [""]}), ["push.to.registration_id"]),
        (push_with(to={"device": ["x"]}), ["push.to.device", "unknown"]),
        (push_with(to="everyone"), ["push.to", "all"]),
        (push_with(to={"registration_id": ["a"] * 1001}), ["push.to.registration_id"]),
        (push_with(body={"platform": "windows"}), ["push.body.platform"]),
        (push_with(body={"platform": None}), ["push.body.platform"]),
        (push_with(body={"notification": {}, "message": {}}), ["notification or a message"]),
        (push_with(body={"notification": {}, "message": {"title": "t"}}), ["msg_content"]),
        (push_with(body={"options": "fast"}), ["push.body.options"]),
        (push_with(request_id=12345), ["push.request_id"]),
        (push_with(extra=1), ["push.extra", "unknown"]),
        ({k: v for k, v in push_with().items() if k != "body"}, ["push.body"]),
    ],
)
def test_an_invalid_push_fails_the_creation(
    local_api: tuple[FlaskClient, dict[str, str]], push_doc: Any, words: list[str]
) -> None:
    api, creds = local_api
    refused(post(api, creds, doc(push=push_doc)), 28100, 400, *words)


def test_valid_push_variants_are_accepted(local_api: tuple[FlaskClient, dict[str, str]]) -> None:
    api, creds = local_api
    variants = [
        push_with(to="all"),
        push_with(to={"tag": ["vip"], "tag_not": ["muted"]}),
        push_with(to={"alias": ["alice"]}),
        push_with(body={"platform": ["android", "ios"]}),
        push_with(body={"platform": "all", "notification": {}, "message": {"msg_content": "hi"}}),
        push_with(custom_args={"any": ["json"]}),
    ]
    for variant in variants:
        created = post(api, creds, doc(push=variant))
        assert created.status_code == 200, created.get_data(as_text=True)


def test_names_of_the_documents_own_examples_and_cjk_names_are_accepted(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    for name in ("the schedule task example", "Timed Push Example", "定时_任务1", "x" * 255):
        created = post(api, creds, doc(name=name))
        assert created.status_code == 200, (name, created.get_data(as_text=True))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", ["not JSON"]),
        (b"[1, 2]", ["JSON object"]),
        (b"\xff\xfe", ["not JSON"]),
        (b"name=task&enabled=true", ["not JSON"]),
        (b"", ["not JSON"]),
        (b"[" * 100_000 + b"]" * 100_000, ["JSON"]),
    ],
)
def test_malformed_bodies_are_a_28100_never_a_500(
    local_api: tuple[FlaskClient, dict[str, str]], body: bytes, words: list[str]
) -> None:
    api, creds = local_api
    refused(post(api, creds, body), 28100, 400, *words)


def test_deep_nesting_inside_the_push_and_huge_bodies_are_refused(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    nested: dict[str, Any] = {}
    for _ in range(200):
        nested = {"k": nested}
    deep = push_with(body={"notification": {"alert": "x", "android": {"extras": nested}}})
    refused(post(api, creds, doc(push=deep)), 28100, 400, "nested")
    huge = doc(name="big", padding="x" * 300_000)
    refused(post(api, creds, huge), 28100, 413, "larger than")


def test_the_quota_counts_unexpired_schedules(
    tmp_path: Path, clean_redis: str, store: Store
) -> None:
    config = Config.from_env(
        {},
        redis_url=clean_redis,
        data_dir=str(tmp_path),
        max_schedules_per_account=3,
        **UNLIMITED,
    )
    api = create_app(config).test_client()
    creds = create_account(store, "small", secret_key=b"k" * 32, now_ms=now_ms())
    ids = [post(api, creds, doc()).get_json()["schedule_id"] for _ in range(3)]
    refused(post(api, creds, doc()), 28100, 400, "3 unexpired schedules")
    api.delete(f"/v4/schedules/{ids[0]}", headers=basic(creds))
    assert post(api, creds, doc()).status_code == 200


def test_an_expired_schedule_cannot_be_updated(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    sid = post(api, creds, doc()).get_json()["schedule_id"]
    # as the beat leaves a sent schedule: purged, kept as retired for its history
    schedule = store.get_schedule(sid)
    assert schedule is not None
    store.redis.set(store.keys.retired(sid), json.dumps(schedule.to_dict()))
    store.delete_schedule(schedule)
    response = api.put(f"/v4/schedules/{sid}", data=example(), headers={**basic(creds), **JSON})
    refused(response, 28100, 400, "expired")
    refused(api.get(f"/v4/schedules/{sid}", headers=basic(creds)), 28104, 404)
    assert api.get(f"/v4/schedules/{sid}/msg-ids", headers=basic(creds)).status_code == 200


def test_zone_type_cannot_change_between_1_and_2(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    sid = post(api, creds, doc()).get_json()["schedule_id"]
    to_two = doc(trigger={"single": {"time": wall(timedelta(hours=5)), "zone_type": 2}})
    response = api.put(f"/v4/schedules/{sid}", json=to_two, headers=basic(creds))
    refused(response, 28100, 400, "zone_type")
    sid2 = post(api, creds, to_two).get_json()["schedule_id"]
    response = api.put(f"/v4/schedules/{sid2}", json=doc(), headers=basic(creds))
    refused(response, 28100, 400, "zone_type")


def test_update_can_disable_and_reenable(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    sid = post(api, creds, doc()).get_json()["schedule_id"]
    off = api.put(f"/v4/schedules/{sid}", json=doc(enabled=False), headers=basic(creds))
    assert off.status_code == 200 and off.get_json()["enabled"] is False
    assert store.next_fire_ms(sid) is None
    on = api.put(f"/v4/schedules/{sid}", json=doc(enabled=True), headers=basic(creds))
    assert on.status_code == 200 and store.next_fire_ms(sid) is not None


# --- accounts, errors -----------------------------------------------------------------------------


def test_another_accounts_schedule_is_a_404_everywhere(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    sid = post(api, creds, doc()).get_json()["schedule_id"]
    other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
    refused(api.get(f"/v4/schedules/{sid}", headers=basic(other)), 28104, 404)
    refused(api.get(f"/v4/schedules/{sid}/msg-ids", headers=basic(other)), 28104, 404)
    refused(api.put(f"/v4/schedules/{sid}", json=doc(), headers=basic(other)), 28104, 404)
    refused(api.delete(f"/v4/schedules/{sid}", headers=basic(other)), 28104, 404)
    assert api.get("/v4/schedules", headers=basic(other)).get_json()["total_count"] == 0
    assert api.get(f"/v4/schedules/{sid}", headers=basic(creds)).status_code == 200


def test_authentication_failures_are_28101(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    refused(api.get("/v4/schedules"), 28101, 401, "Basic")
    wrong = {**creds, "master_secret": "nope"}
    refused(api.get("/v4/schedules", headers=basic(wrong)), 28101, 401)
    refused(post(api, wrong, doc()), 28101, 401)
    assert api.get("/v4/schedules").headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_paths_and_methods_answer_in_the_error_shape(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    refused(api.get("/v4/schedules/a/b/c", headers=basic(creds)), 28104, 404)
    response = api.patch("/v4/schedules", headers=basic(creds))
    assert response.status_code == 405 and response.get_json()["error"]["code"] == 28100


def test_redis_unreachable_is_a_28203(local_api: tuple[FlaskClient, dict[str, str]]) -> None:
    api, creds = local_api
    app_store: Store = api.application.extensions["scheduler.store"]
    app_store.redis = redis.Redis(port=1, socket_connect_timeout=0.2)
    refused(api.get("/v4/schedules", headers=basic(creds)), 28203, 503)
    refused(post(api, creds, doc()), 28203, 503)

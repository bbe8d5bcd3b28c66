"""The Python SDK against the real API served on 127.0.0.1 (real Redis): every resource's
methods, pages walked by cursor, problems raised as ProblemError, and the SDK's documents kept
in step with the API's own schemas."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from scheduler_api.native import replies, schemas
from scheduler_sdk import Client, ProblemError, types
from shared.api_keys import SCOPES
from tests.sdk_support import Recording, Served, served_api

HOOK: types.Target = {"webhook": {"url": "http://127.0.0.1:9/hook", "body": {"hi": 1}}}
NIGHTLY: types.ScheduleInput = {"name": "nightly", "trigger": {"cron": "0 3 * * *"}, "target": HOOK}


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from served_api(redis_url, tmp_path_factory.mktemp("sdk"))


@pytest.fixture
def client(api: Served) -> Iterator[Client]:
    with api.client(api.account()) as made:
        yield made


def test_create_get_replace_update_and_delete(client: Client) -> None:
    made = client.schedules.create({**NIGHTLY, "timezone": "Europe/Paris"})
    assert made["state"] == "active" and made["timezone"] == "Europe/Paris"
    assert len(made["next_fires"]) == 5 and made["target"] == HOOK
    assert client.schedules.get(made["id"]) == made
    replaced = client.schedules.replace(made["id"], {**NIGHTLY, "name": "renamed"})
    assert replaced["name"] == "renamed" and replaced["timezone"] == "UTC"
    updated = client.schedules.update(made["id"], {"metadata": {"team": "ops"}})
    assert updated["metadata"] == {"team": "ops"} and updated["name"] == "renamed"
    client.schedules.delete(made["id"])
    with pytest.raises(ProblemError) as gone:
        client.schedules.get(made["id"])
    assert gone.value.status == 404


def test_list_walks_every_page_by_cursor(api: Served) -> None:
    network = Recording()
    with api.client(api.account(), transport=network) as client:
        ids = [client.schedules.create({**NIGHTLY, "name": f"s{n}"})["id"] for n in range(5)]
        network.exchanges.clear()
        assert [s["id"] for s in client.schedules.list(page_size=2)] == ids
        assert len(network.exchanges) == 3  # pages of 2, 2 and 1
        first = client.schedules.page(limit=2)
        assert len(first["items"]) == 2 and first["next_cursor"]


def test_pause_resume_trigger_and_previews(client: Client) -> None:
    made = client.schedules.create(NIGHTLY)
    paused = client.schedules.pause(made["id"])
    assert paused["state"] == "paused" and paused["next_fires"] == []
    assert client.schedules.resume(made["id"])["state"] == "active"
    execution = client.schedules.trigger(made["id"])["execution"]
    assert execution.startswith(made["id"] + ":run-")
    saved = client.schedules.preview(made["id"], count=3)
    assert saved["timezone"] == "UTC" and len(saved["fires"]) == 3
    assert all(fire.endswith("T03:00:00Z") for fire in saved["fires"])
    assert list(client.schedules.runs(made["id"])) == []  # no worker runs it in this module
    unsaved = client.preview(
        {"rrule": "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"},
        timezone="America/New_York",
        start=datetime(2027, 1, 1, 9, tzinfo=ZoneInfo("America/New_York")),
        count=3,
    )
    assert unsaved["fires"] == [
        "2027-01-04T14:00:00Z",
        "2027-02-01T14:00:00Z",
        "2027-03-01T14:00:00Z",
    ]
    assert [s["id"] for s in client.schedules.list()] == [made["id"]]  # the preview saved none


def test_backfill_queues_each_fire_of_a_past_range(client: Client) -> None:
    made = client.schedules.create({**NIGHTLY, "trigger": {"cron": "0 * * * *"}})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    done = client.schedules.backfill(made["id"], start, "2026-01-01T02:59:59Z")
    first = int(start.timestamp() * 1000)
    hours = [first + hour * 3_600_000 for hour in range(3)]
    assert done["executions"] == [f"{made['id']}:backfill-{ms}" for ms in hours]
    with pytest.raises(ProblemError) as refused:
        client.schedules.backfill(made["id"], "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z")
    assert refused.value.status == 422 and "end" in refused.value.fields
    with pytest.raises(ValueError):
        client.schedules.backfill(made["id"], datetime(2026, 1, 1), "2026-01-02T00:00:00Z")


def test_an_invalid_field_is_a_problem_naming_it(client: Client) -> None:
    with pytest.raises(ProblemError) as refused:
        client.schedules.create({**NIGHTLY, "trigger": {"cron": "61 3 * * *"}})
    problem = refused.value
    assert problem.status == 422 and problem.title == HTTPStatus(422).phrase
    assert "trigger.cron" in problem.fields and "trigger.cron" in problem.detail
    assert problem.problem["status"] == 422


def test_api_keys_and_their_scopes(api: Served, client: Client) -> None:
    made = client.api_keys.create("reader", ["schedules:read"])
    assert made["scopes"] == ["schedules:read"] and made["key"].startswith(made["prefix"])
    listed = client.api_keys.list()
    assert [k["id"] for k in listed] == [made["id"]] and "key" not in listed[0]
    with Client(api.url, api_key=made["key"]) as reader:
        assert list(reader.schedules.list()) == []
        with pytest.raises(ProblemError) as refused:
            reader.schedules.create(NIGHTLY)
        assert refused.value.status == 403 and "schedules:write" in refused.value.detail
    client.api_keys.delete(made["id"])
    assert client.api_keys.list() == []
    with Client(api.url, api_key=made["key"]) as deleted, pytest.raises(ProblemError) as denied:
        deleted.schedules.page()
    assert denied.value.status == 401


def test_rotating_the_webhook_secret(api: Served) -> None:
    creds = api.account()
    with api.client(creds) as client:
        rotated = client.rotate_webhook_secret(overlap_s=60)
    assert rotated["webhook_secret"].startswith("whsec_")
    assert rotated["webhook_secret"] != creds["webhook_secret"]


def test_dead_letters_of_another_kind_are_not_found(client: Client) -> None:
    assert list(client.dead_letters.list()) == []
    with pytest.raises(ProblemError) as missing:
        client.dead_letters.redrive("nosuch:1")
    assert missing.value.status == 404
    with pytest.raises(ProblemError) as also:
        client.dead_letters.delete("nosuch:1")
    assert also.value.status == 404


def test_credentials_are_one_kind_or_the_other() -> None:
    with pytest.raises(ValueError):
        Client("http://127.0.0.1:9")
    with pytest.raises(ValueError):
        Client("http://127.0.0.1:9", api_key="sk_x", appkey="a", master_secret="b")


def keys(document: Any) -> tuple[set[str], set[str]]:
    """A TypedDict's (required, all) keys."""
    return set(document.__required_keys__), set(typing.get_type_hints(document))


@pytest.mark.parametrize(
    ("sdk", "answer"),
    [
        (types.Schedule, replies.Schedule),
        (types.Run, replies.Run),
        (types.DeadLetter, replies.DeadLetter),
        (types.Preview, replies.Preview),
        (types.Triggered, replies.Triggered),
        (types.Backfilled, replies.Backfilled),
        (types.ApiKey, replies.ApiKey),
        (types.Rotated, replies.Rotated),
        (types.FieldError, replies.FieldProblem),
    ],
)
def test_answer_types_cover_the_api_schemas(sdk: Any, answer: Any) -> None:
    """Every field the API answers is in the SDK's type (which may know a policy field the API
    does not answer yet), required exactly when the API always sends it."""
    declared = answer().fields
    always = {name for name, f in declared.items() if f.required}
    required, every = keys(sdk)
    assert set(declared) - every == set(), f"add these to scheduler_sdk.types.{sdk.__name__}"
    assert required == always, f"scheduler_sdk.types.{sdk.__name__}: NotRequired is wrong"


def test_input_types_match_the_api_schemas() -> None:
    taken = {n for n, f in schemas.ScheduleDoc().fields.items() if not f.load_only}
    required, every = keys(types.ScheduleInput)
    assert every == taken and required == {"name", "trigger", "target"}
    assert keys(types.Trigger)[1] == set(schemas.TriggerDoc().fields)
    assert keys(types.Target)[1] == set(schemas.TargetDoc().fields)
    assert keys(types.Webhook)[1] == set(schemas.WebhookDoc().fields)
    assert keys(types.CalendarItem)[1] == set(schemas.CalendarItem().fields)
    assert keys(types.Retry)[1] == set(schemas.RetryDoc().fields)
    assert typing.get_args(types.Scope) == SCOPES
    assert Path(types.__file__).with_name("py.typed").exists()


def test_the_readme_example_runs(api: Served) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Python SDK") :]
    code = section[section.index("```python\n") + 10 : section.index("```\n")]
    creds = api.account()
    scope = {"APPKEY": creds["appkey"], "MASTER_SECRET": creds["master_secret"]}
    exec(compile(code.replace("http://localhost:8080", api.url), "README.md", "exec"), scope)
    with api.client(creds) as client:
        (made,) = client.schedules.list()
        assert made["metadata"] == {"team": "ops"} and made["name"] == "nightly report"
        assert [key["name"] for key in client.api_keys.list()] == ["ci"]


# Each /v1 operation of /openapi.json -> the SDK method that calls it.
OPERATIONS = {
    ("post", "/v1/schedules"): "schedules.create",
    ("get", "/v1/schedules"): "schedules.list, schedules.page",
    ("get", "/v1/schedules/{schedule_id}"): "schedules.get",
    ("put", "/v1/schedules/{schedule_id}"): "schedules.replace",
    ("patch", "/v1/schedules/{schedule_id}"): "schedules.update",
    ("delete", "/v1/schedules/{schedule_id}"): "schedules.delete",
    ("post", "/v1/schedules/{schedule_id}/pause"): "schedules.pause",
    ("post", "/v1/schedules/{schedule_id}/resume"): "schedules.resume",
    ("post", "/v1/schedules/{schedule_id}/trigger"): "schedules.trigger",
    ("post", "/v1/schedules/{schedule_id}/backfill"): "schedules.backfill",
    ("get", "/v1/schedules/{schedule_id}/runs"): "schedules.runs, schedules.runs_page",
    ("get", "/v1/schedules/{schedule_id}/preview"): "schedules.preview",
    ("post", "/v1/preview"): "preview",
    ("get", "/v1/dead-letters"): "dead_letters.list, dead_letters.page",
    ("post", "/v1/dead-letters/{execution_id}/redrive"): "dead_letters.redrive",
    ("delete", "/v1/dead-letters/{execution_id}"): "dead_letters.delete",
    ("post", "/v1/webhook-secret/rotate"): "rotate_webhook_secret",
    ("post", "/v1/api-keys"): "api_keys.create",
    ("get", "/v1/api-keys"): "api_keys.list",
    ("delete", "/v1/api-keys/{key_id}"): "api_keys.delete",
}


def test_the_sdk_calls_every_v1_operation(api: Served, client: Client) -> None:
    document = httpx.get(f"{api.url}/openapi.json", timeout=10).json()
    offered = {
        (method, path)
        for path, operations in document["paths"].items()
        if path.startswith("/v1/")
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert offered == set(OPERATIONS), "scheduler_sdk: add a method for each new operation"
    for names in OPERATIONS.values():
        for name in names.split(", "):
            found: Any = client
            for part in name.split("."):
                found = getattr(found, part)
            assert callable(found), name

"""The account's side of ``/v1``: dead letters, the webhook signing secret, API keys."""

from __future__ import annotations

from typing import Any

from flask import Response

from scheduler_api.adapter import DialectError, config, store
from scheduler_api.native import replies
from scheduler_api.native.access import caller, guarded
from scheduler_api.native.reading import document, query
from scheduler_api.native.render import (
    DEFAULT_LIMIT,
    dead_letter_view,
    key_page,
    page,
    respond,
)
from scheduler_api.native.routes import blueprint
from scheduler_api.native.schemas import ApiKeyDoc, PageQuery, RotateDoc
from scheduler_api.openapi import Reply, documented
from shared import api_keys, schedules
from shared.accounts import ROTATION_OVERLAP_S, load_secret_key, rotate_webhook_secret
from shared.contract import DIALECTS
from shared.timing import format_iso_utc, now_ms

MAX_DEAD_LETTERS = 1000  # read per dialect, newest first, for one page


@blueprint.get("/dead-letters")
@documented(
    summary="The account's dead letters (every API's), newest first, a page at a time",
    query=PageQuery,
    responses={200: Reply("a page of dead letters", replies.DeadLetterPage)},
)
@guarded("dead-letters:read")
def list_dead_letters() -> Response:
    params = query(PageQuery())
    rows = [
        (letter["died_ms"], letter["execution"]["id"], letter)
        for dialect in DIALECTS
        for letter in store().dead_letters(0, MAX_DEAD_LETTERS, owner=(caller().appkey, dialect))
    ]
    shown, next_cursor = key_page(rows, params.get("limit", DEFAULT_LIMIT), params.get("cursor"))
    return respond(page([dead_letter_view(letter) for letter in shown], next_cursor))


@blueprint.post("/dead-letters/<execution_id>/redrive")
@documented(
    summary="Run a dead execution again from attempt 1",
    responses={202: Reply("queued again", replies.Triggered), 404: "no such dead letter"},
)
@guarded("dead-letters:write")
def redrive_dead_letter(execution_id: str) -> Response:
    schedules.redrive(store(), execution_id, caller().appkey, now_ms=now_ms())
    return respond({"execution": execution_id}, 202)


@blueprint.delete("/dead-letters/<execution_id>")
@documented(summary="Drop a dead letter", responses={204: "dropped", 404: "no such dead letter"})
@guarded("dead-letters:write")
def delete_dead_letter(execution_id: str) -> Response:
    schedules.discard_dead_letter(store(), execution_id, caller().appkey)
    return Response(status=204)


@blueprint.post("/webhook-secret/rotate")
@documented(
    summary="A new webhook signing secret (shown once); the old one signs too for overlap_s",
    body=RotateDoc,
    responses={200: Reply("the new secret", replies.Rotated)},
)
@guarded("webhook-secret:write")
def rotate_secret() -> Response:
    overlap_s = document(RotateDoc(), optional=True).get("overlap_s", ROTATION_OVERLAP_S)
    now = now_ms()
    secret = rotate_webhook_secret(
        store(), caller().appkey, load_secret_key(config()), overlap_s=overlap_s, now_ms=now
    )
    until = format_iso_utc(now + overlap_s * 1000)
    return respond({"webhook_secret": secret, "previous_valid_until": until})


@blueprint.post("/api-keys")
@documented(
    summary="Make a named API key with scopes (the key is shown once)",
    body=ApiKeyDoc,
    responses={201: Reply("the key, with its secret", replies.ApiKey)},
)
@guarded("api-keys:write")
def create_api_key() -> Response:
    doc = document(ApiKeyDoc())
    beyond = sorted(set(doc["scopes"]) - caller().scopes)
    if beyond:  # an API key can't make a key stronger than itself
        raise DialectError(403, f"scopes: this API key lacks {', '.join(beyond)}")
    record, key = api_keys.create_api_key(
        store(), caller().appkey, doc["name"], doc["scopes"], now_ms=now_ms()
    )
    return respond({**key_view(record), "key": key}, 201, f"/v1/api-keys/{record['id']}")


@blueprint.get("/api-keys")
@documented(
    summary="The account's API keys (never their secrets)",
    responses={200: Reply("the keys", replies.ApiKeyList)},
)
@guarded("api-keys:read")
def list_api_keys() -> Response:
    keys = api_keys.list_api_keys(store(), caller().appkey)
    return respond({"items": [key_view(record) for record in keys]})


@blueprint.delete("/api-keys/<key_id>")
@documented(summary="Delete an API key", responses={204: "deleted", 404: "no such key"})
@guarded("api-keys:write")
def delete_api_key(key_id: str) -> Response:
    api_keys.delete_api_key(store(), caller().appkey, key_id)
    return Response(status=204)


def key_view(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "name": record["name"],
        "scopes": record["scopes"],
        "created": format_iso_utc(record["created_ms"]),
        "prefix": record["prefix"],
    }

"""The native API's resources, one class each: schedules, dead letters, API keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import quote

from scheduler_sdk.transport import Transport
from scheduler_sdk.types import (
    ApiKey,
    Backfilled,
    DeadLetter,
    Page,
    Preview,
    Run,
    Schedule,
    ScheduleInput,
    Scope,
    Triggered,
)

T = TypeVar("T")
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
Post = Callable[..., Any]  # Client.post: a POST with its Idempotency-Key
KeyList = list[ApiKey]  # named here: inside ApiKeys, "list" is its method


def segment(value: str) -> str:
    """An id as one path segment (a '/' or '?' in it can't reach another resource)."""
    return quote(value, safe="")


def walk(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a listing, asking for the next page only when the last one is used up."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


def instant(value: str | datetime) -> str:
    """An instant as the API reads it: ISO 8601 as given, or an aware datetime written so."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("a naive datetime names no instant: give it a tzinfo")
    return value.isoformat()


def page_query(limit: int | None, cursor: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"limit": limit, "cursor": cursor}
    return {name: value for name, value in query.items() if value is not None}


class Schedules:
    """``/v1/schedules``: the schedules this account made through the native API."""

    def __init__(self, transport: Transport, post: Post) -> None:
        self._http, self._post = transport, post

    def create(self, schedule: ScheduleInput, *, idempotency_key: str | None = None) -> Schedule:
        return cast(Schedule, self._post("/v1/schedules", schedule, idempotency_key))

    def page(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Schedule]:
        answer = self._http.request("GET", "/v1/schedules", params=page_query(limit, cursor))
        return cast(Page[Schedule], answer)

    def list(self, *, page_size: int | None = None) -> Iterator[Schedule]:
        """Every schedule, oldest first, fetched a page at a time as the iterator is used."""
        return walk(lambda cursor: self.page(limit=page_size, cursor=cursor))

    def get(self, schedule_id: str) -> Schedule:
        return cast(Schedule, self._http.request("GET", self._path(schedule_id)))

    def replace(self, schedule_id: str, schedule: ScheduleInput) -> Schedule:
        answer = self._http.request("PUT", self._path(schedule_id), json=schedule)
        return cast(Schedule, answer)

    def update(self, schedule_id: str, changes: Mapping[str, Any]) -> Schedule:
        """Change some fields (a JSON Merge Patch, RFC 7396: None removes a field)."""
        path = self._path(schedule_id)
        answer = self._http.request("PATCH", path, json=dict(changes), headers=MERGE_PATCH)
        return cast(Schedule, answer)

    def delete(self, schedule_id: str) -> None:
        self._http.request("DELETE", self._path(schedule_id))

    def pause(self, schedule_id: str, *, idempotency_key: str | None = None) -> Schedule:
        return cast(Schedule, self._action(schedule_id, "pause", idempotency_key))

    def resume(self, schedule_id: str, *, idempotency_key: str | None = None) -> Schedule:
        return cast(Schedule, self._action(schedule_id, "resume", idempotency_key))

    def trigger(self, schedule_id: str, *, idempotency_key: str | None = None) -> Triggered:
        """Run now, outside the trigger (paused or not): the new execution's id."""
        return cast(Triggered, self._action(schedule_id, "trigger", idempotency_key))

    def backfill(
        self,
        schedule_id: str,
        start: str | datetime,
        end: str | datetime,
        *,
        idempotency_key: str | None = None,
    ) -> Backfilled:
        """Run every fire of the past range [start, end] now, paced, each with its own instant
        and execution id (oldest first)."""
        body = {"start": instant(start), "end": instant(end)}
        path = self._path(schedule_id) + "/backfill"
        return cast(Backfilled, self._post(path, body, idempotency_key))

    def runs_page(
        self, schedule_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Run]:
        path = self._path(schedule_id) + "/runs"
        return cast(Page[Run], self._http.request("GET", path, params=page_query(limit, cursor)))

    def runs(self, schedule_id: str, *, page_size: int | None = None) -> Iterator[Run]:
        """Every run record (attempts, skipped and missed fires), newest first."""
        return walk(lambda cursor: self.runs_page(schedule_id, limit=page_size, cursor=cursor))

    def preview(self, schedule_id: str, *, count: int | None = None) -> Preview:
        params = {} if count is None else {"count": count}
        path = self._path(schedule_id) + "/preview"
        return cast(Preview, self._http.request("GET", path, params=params))

    def _path(self, schedule_id: str) -> str:
        return f"/v1/schedules/{segment(schedule_id)}"

    def _action(self, schedule_id: str, verb: str, key: str | None) -> Any:
        return self._post(f"{self._path(schedule_id)}/{verb}", None, key)


class DeadLetters:
    """``/v1/dead-letters``: executions that ran out of attempts (made through any API)."""

    def __init__(self, transport: Transport, post: Post) -> None:
        self._http, self._post = transport, post

    def page(self, *, limit: int | None = None, cursor: str | None = None) -> Page[DeadLetter]:
        answer = self._http.request("GET", "/v1/dead-letters", params=page_query(limit, cursor))
        return cast(Page[DeadLetter], answer)

    def list(self, *, page_size: int | None = None) -> Iterator[DeadLetter]:
        """Every dead letter, newest first, a page at a time."""
        return walk(lambda cursor: self.page(limit=page_size, cursor=cursor))

    def redrive(self, execution_id: str, *, idempotency_key: str | None = None) -> Triggered:
        """Run the execution again from attempt 1."""
        path = f"/v1/dead-letters/{segment(execution_id)}/redrive"
        return cast(Triggered, self._post(path, None, idempotency_key))

    def delete(self, execution_id: str) -> None:
        self._http.request("DELETE", f"/v1/dead-letters/{segment(execution_id)}")


class ApiKeys:
    """``/v1/api-keys``: named keys with scopes, for ``Client(api_key=...)``."""

    def __init__(self, transport: Transport, post: Post) -> None:
        self._http, self._post = transport, post

    def create(
        self, name: str, scopes: list[Scope], *, idempotency_key: str | None = None
    ) -> ApiKey:
        """A new key; its secret (``key``) is in this answer only."""
        body = {"name": name, "scopes": scopes}
        return cast(ApiKey, self._post("/v1/api-keys", body, idempotency_key))

    def list(self) -> KeyList:
        """The account's keys (never their secrets)."""
        return cast(KeyList, self._http.request("GET", "/v1/api-keys")["items"])

    def delete(self, key_id: str) -> None:
        self._http.request("DELETE", f"/v1/api-keys/{segment(key_id)}")

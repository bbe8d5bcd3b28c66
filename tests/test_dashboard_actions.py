"""The dashboard's buttons with Flask's test client on a real Redis: each refuses a post without
the session's CSRF token (403) or a session (401), finds another account's schedule nowhere
(404), and does what it says through the core; attempts are grouped under their execution.

tests/test_dashboard_actions_browser.py clicks the same buttons in headless Chromium."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from shared.accounts import create_account
from shared.contract import RunStatus
from shared.model import RunRecord
from shared.store import Store
from tests.support import basic, now_ms
from tests.test_dashboard import csrf_of, sign_in, table

Client = tuple[FlaskClient, dict[str, str]]
ACTIONS = ("pause", "resume", "run", "delete")


def webhook_job(api: FlaskClient, creds: dict[str, str]) -> str:
    job = {"url": "https://example.com/cb", "cron": "0 0 0 1 * ?"}
    headers = {**basic(creds), "Content-Type": "application/json"}
    return api.post("/1/jobs", data=json.dumps(job), headers=headers).get_data(as_text=True)


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_needs_the_session_and_its_csrf_token(
    local_api: Client, store: Store, action: str
) -> None:
    api, creds = local_api
    schedule_id = webhook_job(api, creds)
    before = store.get_schedule(schedule_id)
    url = f"/dashboard/schedules/{schedule_id}/{action}"
    assert api.post(url, data={"csrf": "anything"}).status_code == 401  # not signed in
    page = sign_in(api, creds)
    assert api.post(url, data={"csrf": "forged"}).status_code == 403
    assert api.post(url).status_code == 403
    assert store.get_schedule(schedule_id) == before
    assert store.redis.zcard(store.keys.published()) == 0  # nothing was run either

    other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
    other_page = sign_in(api, other)
    assert schedule_id not in other_page
    answer = api.post(url, data={"csrf": csrf_of(other_page)})
    assert answer.status_code == 404 and "not in this account" in answer.get_data(as_text=True)
    assert store.get_schedule(schedule_id) == before
    assert csrf_of(page) != csrf_of(other_page)


def test_pause_resume_run_now_and_delete_do_what_they_say(local_api: Client, store: Store) -> None:
    api, creds = local_api
    schedule_id = webhook_job(api, creds)
    csrf = csrf_of(sign_in(api, creds))

    def post(action: str) -> str:
        url = f"/dashboard/schedules/{schedule_id}/{action}"
        answer = api.post(url, data={"csrf": csrf}, follow_redirects=True)
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    assert f"Paused {schedule_id}." in post("pause")
    assert store.next_fire_ms(schedule_id) is None
    assert f"Resumed {schedule_id}." in post("resume")
    assert store.next_fire_ms(schedule_id) is not None
    page = post("run")
    assert f"Started {schedule_id}:run-" in page
    [published] = store.redis.zrange(store.keys.published(), 0, -1)
    assert published.startswith(f"{schedule_id}:run-")

    confirm = api.get(f"/dashboard/schedules/{schedule_id}/delete").get_data(as_text=True)
    assert "Delete this schedule?" in confirm and schedule_id in confirm
    assert store.get_schedule(schedule_id) is not None  # asking deletes nothing
    assert f"Deleted {schedule_id}." in post("delete")
    assert store.get_schedule(schedule_id) is None
    assert api.get(f"/dashboard/schedules/{schedule_id}/delete").status_code == 404


def test_attempts_are_grouped_under_their_execution_with_lag_and_time_to_success(
    local_api: Client, store: Store
) -> None:
    api, creds = local_api
    schedule_id = webhook_job(api, creds)
    due = now_ms() - 60_000
    execution_id = f"{schedule_id}:{due}"
    attempts = [
        RunRecord(execution_id, schedule_id, due, due, due + 250, due + 1250, RunStatus.RETRYING,
                  1, error="HTTP 503"),
        RunRecord(execution_id, schedule_id, due, due, due + 4000, due + 4500, RunStatus.SUCCEEDED,
                  2),
    ]  # fmt: skip
    for record in attempts:
        outcome = "done" if record.status == RunStatus.SUCCEEDED else "retry"
        store.finish_execution(
            record, outcome, account=creds["appkey"], now_ms=now_ms(), history_cap=10,
            retention_s=60,
        )  # fmt: skip

    executions = table(sign_in(api, creds), "executions")
    assert executions.count(f'data-execution="{execution_id}"') == 1  # one group, two attempts
    assert "attempt 1" in executions and "attempt 2" in executions and "HTTP 503" in executions
    assert '<td class="lag">250 ms</td>' in executions  # due to the first attempt's start
    assert '<td class="to-success">4.5 s</td>' in executions  # due to the success


HOSTILE_IDS = (
    "nope",
    "x" * 5000,
    "%00",
    "..%2F..%2Fetc",
    "%C3%BCn%C3%AFcode",
    "a%0d%0aSet-Cookie:x=1",
)


def test_hostile_ids_get_the_dashboards_404_page_never_a_500(local_api: Client) -> None:
    api, creds = local_api
    csrf = csrf_of(sign_in(api, creds))
    for hostile in HOSTILE_IDS:
        urls = [f"/dashboard/schedules/{hostile}/{action}" for action in ACTIONS]
        urls.append(f"/dashboard/dead-letters/{hostile}/redrive")
        for url in urls:
            answer = api.post(url, data={"csrf": csrf})
            assert answer.status_code == 404, (url[:80], answer.status_code)
            assert answer.mimetype == "text/html" and 'id="error"' in answer.get_data(as_text=True)
            assert "Set-Cookie: x" not in str(answer.headers)
        confirm = api.get(f"/dashboard/schedules/{hostile}/delete")
        assert confirm.status_code == 404 and confirm.mimetype == "text/html"
    wrong_method = api.get("/dashboard/schedules/nope/pause")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"

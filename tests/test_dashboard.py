"""/dashboard with Flask's test client on a real Redis: login, what it shows, redrive, isolation.

tests/test_dashboard_browser.py drives the same page in headless Chromium."""

from __future__ import annotations

import json
import re

from flask.testing import FlaskClient

from shared.accounts import create_account
from shared.model import RunRecord
from shared.store import Store
from tests.support import basic, now_ms


def login_form(api: FlaskClient, creds: dict[str, str], secret: str = "") -> dict[str, str]:
    """The sign-in form as a browser fills it in, with the CSRF token of the page it got."""
    page = api.get("/dashboard/login").get_data(as_text=True)
    return {
        "appkey": creds["appkey"],
        "master_secret": secret or creds["master_secret"],
        "csrf": csrf_of(page),
    }


def sign_in(api: FlaskClient, creds: dict[str, str]) -> str:
    """Sign in; returns the overview page's HTML."""
    form = login_form(api, creds)
    return api.post("/dashboard/login", data=form, follow_redirects=True).get_data(as_text=True)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def table(page: str, table_id: str) -> str:
    """The HTML of the page's table with this id."""
    return page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]


def kill_one_execution(store: Store, job_id: str, account: str) -> str:
    """Record a dead letter for the job, as a worker does after its last attempt."""
    execution_id = f"{job_id}:{now_ms()}"
    execution = {
        "id": execution_id,
        "schedule": job_id,
        "account": account,
        "dialect": "webhook_jobs",
        "due_ms": now_ms(),
        "attempt": 5,
        "target": {"kind": "webhook", "spec": {"url": "https://example.com/"}},
    }
    record = RunRecord(
        id=execution_id,
        schedule=job_id,
        due_ms=now_ms(),
        claimed_ms=now_ms(),
        started_ms=now_ms(),
        finished_ms=now_ms(),
        status="dead",
        attempt=5,
        error="HTTP 503",
    )
    store.begin_execution(execution_id, 5, 60, now_ms=now_ms(), lease_ms=60_000)
    store.finish_execution(
        record,
        "dead",
        account=account,
        now_ms=now_ms(),
        history_cap=10,
        retention_s=60,
        payload={"execution": execution, "error": "HTTP 503", "died_ms": now_ms()},
    )
    return execution_id


def test_sign_in_shows_the_accounts_schedules_runs_and_redrives_a_dead_letter(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    assert api.get("/dashboard/").status_code == 302  # to the login page
    wrong = login_form(api, creds, secret="nope")
    assert "Wrong appkey" in api.post("/dashboard/login", data=wrong).get_data(as_text=True)

    job = {"url": "https://example.com/cb", "cron": "0 */10 * * * ?"}
    job_id = api.post(
        "/1/jobs",
        data=json.dumps(job),
        headers={**basic(creds), "Content-Type": "application/json"},
    ).get_data(as_text=True)
    execution_id = kill_one_execution(store, job_id, creds["appkey"])

    page = sign_in(api, creds)
    assert f'data-schedule="{job_id}"' in page
    assert "cron 0 */10 * * * ? (UTC)" in page
    assert page.count(f"<code>{job_id}</code>") >= 2  # the schedule, and its upcoming fires
    assert f'data-dead-letter="{execution_id}"' in page and "HTTP 503" in page

    redrive = f"/dashboard/dead-letters/{execution_id}/redrive"
    assert api.post(redrive, data={"csrf": "forged"}).status_code == 403
    assert store.dead_letter(execution_id) is not None
    answer = api.post(redrive, data={"csrf": csrf_of(page)}, follow_redirects=True)
    assert answer.status_code == 200
    assert store.dead_letter(execution_id) is None
    assert store.redis.zscore(store.keys.retries(), execution_id) is not None
    assert f'data-dead-letter="{execution_id}"' not in answer.get_data(as_text=True)


def test_another_account_sees_nothing_and_cannot_redrive(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    job = {"url": "https://example.com/cb", "cron": "0 */10 * * * ?"}
    job_id = api.post(
        "/1/jobs",
        data=json.dumps(job),
        headers={**basic(creds), "Content-Type": "application/json"},
    ).get_data(as_text=True)
    execution_id = kill_one_execution(store, job_id, creds["appkey"])

    other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
    page = sign_in(api, other)
    assert job_id not in page and execution_id not in page
    redrive = f"/dashboard/dead-letters/{execution_id}/redrive"
    assert api.post(redrive, data={"csrf": csrf_of(page)}).status_code == 404
    assert store.dead_letter(execution_id) is not None


def test_a_session_ends_when_the_account_is_gone(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    assert "Schedules of example" in sign_in(api, creds)
    store.redis.hdel(store.keys.accounts(), creds["appkey"])
    assert api.get("/dashboard/").status_code == 302


def test_recent_runs_include_schedules_already_gone(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    """A one-shot is purged after its fire; its run still shows, to its own account only."""
    api, creds = local_api
    job = {"url": "https://example.com/cb", "when": "2099-01-01T00:00:00Z"}
    headers = {**basic(creds), "Content-Type": "application/json"}
    job_id = api.post("/1/jobs", data=json.dumps(job), headers=headers).get_data(as_text=True)
    execution_id = f"{job_id}:{now_ms()}"
    record = RunRecord(execution_id, job_id, now_ms(), now_ms(), now_ms(), now_ms(), "succeeded", 1)
    store.finish_execution(
        record, "done", account=creds["appkey"], now_ms=now_ms(), history_cap=10, retention_s=60
    )
    assert api.delete(f"/1/jobs/{job_id}", headers=basic(creds)).status_code == 204

    page = sign_in(api, creds)
    assert job_id not in table(page, "schedules")  # no longer among the schedules
    assert f'data-execution="{execution_id}"' in table(page, "executions")
    other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
    assert execution_id not in sign_in(api, other)


def test_a_schedule_shows_the_policies_it_asks_beyond_the_defaults(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    governed = {
        "name": "governed",
        "trigger": {"cron": "*/10 * * * *"},
        "target": {"webhook": {"url": "https://example.com/cb"}},
        "overlap": "buffer_one",
        "retry": {"max_attempts": 3, "timeout_s": 7},
    }
    made = api.post("/v1/schedules", json=governed, headers=basic(creds))
    assert made.status_code == 201, made.get_data(as_text=True)
    page = sign_in(api, creds)
    row = page[page.index(f'data-schedule="{made.get_json()["id"]}"') :]
    assert (
        '<small class="policies">overlap buffer_one, 3 attempt(s), 7 s per attempt</small>'
        in (row[: row.index("</tr>")])
    )

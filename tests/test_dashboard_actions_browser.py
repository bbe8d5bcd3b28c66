"""Each dashboard button in headless Chromium, against one served API, a real beat and a real
webhooks worker for the module: the listing across APIs (/1/jobs, /v1 and the CLI's
``schedules add-webhook``), pause, resume, run now (delivered), delete after its confirmation
page (cancel first), and redrive (a dead letter delivered again)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from scheduler_api.app import create_app
from scheduler_cli.main import main as scheduler_cli
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.browser import browser, wait_for_text  # noqa: F401  (browser is a fixture)
from tests.support import (
    UNLIMITED,
    HttpReceiver,
    ProcessGroup,
    ServedApp,
    basic,
    now_ms,
    wait_until,
)

MONTHLY = "0 0 0 1 * ?"  # never due during a test


@dataclass
class Stack:
    url: str
    api: FlaskClient
    store: Store
    creds: dict[str, str]
    ok: HttpReceiver  # answers 200
    flaky: HttpReceiver  # answers 500 once, then 200
    config: Config


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(redis_url).flushdb()
    workdir = tmp_path_factory.mktemp("dashboard-actions")
    allow = ("127.0.0.0/8",)
    config = Config.from_env(
        {}, redis_url=redis_url, data_dir=str(workdir), target_allowlist=allow, **UNLIMITED
    )
    store = Store.from_url(config.redis_url, config.key_prefix)
    creds = create_account(store, "acme", secret_key=load_secret_key(config), now_ms=now_ms())
    app = create_app(config)
    group = ProcessGroup(redis_url, workdir)
    try:
        with (
            HttpReceiver() as ok,
            HttpReceiver(statuses=[500, 200]) as flaky,
            ServedApp(app) as served,
        ):
            group.beat()
            group.worker("webhooks", max_attempts=1)
            wait_until(store.last_beat_ms, what="beat running")
            yield Stack(served.url, app.test_client(), store, creds, ok, flaky, config)
    finally:
        group.stop_all()


def webhook_job(stack: Stack, url: str) -> str:
    """A schedule made through the webhook jobs API (/1/jobs); returns its id."""
    job = {"url": url, "cron": MONTHLY}
    headers = {**basic(stack.creds), "Content-Type": "application/json"}
    return stack.api.post("/1/jobs", data=json.dumps(job), headers=headers).get_data(as_text=True)


def sign_in(driver: WebDriver, stack: Stack) -> None:
    driver.delete_all_cookies()
    driver.get(stack.url + "/dashboard/")
    driver.find_element(By.ID, "appkey").send_keys(stack.creds["appkey"])
    driver.find_element(By.ID, "master_secret").send_keys(stack.creds["master_secret"])
    driver.find_element(By.ID, "sign-in").click()
    wait_for_text(driver, "Schedules of acme")


def row(driver: WebDriver, schedule_id: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'#schedules tr[data-schedule="{schedule_id}"]')


def click(driver: WebDriver, schedule_id: str, button: str) -> None:
    row(driver, schedule_id).find_element(By.CSS_SELECTOR, button).click()


def test_the_list_shows_schedules_of_every_api_and_the_cli_by_name(
    browser: WebDriver,  # noqa: F811
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jobs_id = webhook_job(stack, stack.ok.url + "/jobs")
    body = {
        "name": "nightly report",
        "trigger": {"cron": "0 3 * * *"},
        "target": {"webhook": {"url": stack.ok.url + "/v1"}},
    }
    native = stack.api.post("/v1/schedules", json=body, headers=basic(stack.creds))
    assert native.status_code == 201, native.get_data(as_text=True)
    cli_id = add_webhook_by_cli(stack, monkeypatch, capsys, "weekly digest")

    sign_in(browser, stack)
    wait_for_text(browser, jobs_id, native.get_json()["id"], cli_id)
    assert row(browser, native.get_json()["id"]).find_element(By.CLASS_NAME, "name").text == (
        "nightly report"
    )
    cli_row = row(browser, cli_id)
    assert cli_row.find_element(By.CLASS_NAME, "name").text == "weekly digest"
    assert " cli " in f" {cli_row.text} " and "webhook_jobs" in row(browser, jobs_id).text
    # The timeline has its axis: a labelled tick every 3 hours and a "now" line.
    ticks = browser.find_elements(By.CSS_SELECTOR, "#timeline text.tick-label")
    assert len(ticks) >= 9 and all(tick.text.endswith(":00") for tick in ticks)
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline line.now")


def add_webhook_by_cli(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> str:
    """``scheduler schedules add-webhook --json`` on the stack's Redis; returns the new id."""
    for variable in list(os.environ):
        if variable.startswith("SCHEDULER_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("REDIS_URL", stack.config.redis_url)
    monkeypatch.setenv("SCHEDULER_DATA_DIR", stack.config.data_dir)
    monkeypatch.setenv("SCHEDULER_TARGET_ALLOWLIST", "127.0.0.0/8")
    capsys.readouterr()
    args = ["--account", "acme", "--url", stack.ok.url + "/cli", "--cron", "0 9 * * 1"]
    with pytest.raises(SystemExit) as done:
        scheduler_cli(["schedules", "add-webhook", *args, "--name", name, "--json"])
    assert done.value.code == 0
    return json.loads(capsys.readouterr().out)["id"]


def test_pause_then_resume(browser: WebDriver, stack: Stack) -> None:  # noqa: F811
    schedule_id = webhook_job(stack, stack.ok.url + "/paused")
    sign_in(browser, stack)
    click(browser, schedule_id, "button.pause")
    wait_for_text(browser, f"Paused {schedule_id}.")
    assert row(browser, schedule_id).find_element(By.CLASS_NAME, "state").text == "paused"
    assert stack.store.next_fire_ms(schedule_id) is None

    click(browser, schedule_id, "button.resume")
    wait_for_text(browser, f"Resumed {schedule_id}.")
    assert row(browser, schedule_id).find_element(By.CLASS_NAME, "state").text == "active"
    assert stack.store.next_fire_ms(schedule_id) is not None


def test_run_now_delivers_and_shows_the_execution(
    browser: WebDriver,  # noqa: F811
    stack: Stack,
) -> None:
    schedule_id = webhook_job(stack, stack.ok.url + "/run-now")
    sign_in(browser, stack)
    click(browser, schedule_id, "button.run-now")
    wait_for_text(browser, f"Started {schedule_id}:run-")
    wait_until(lambda: delivered(stack.ok, "/run-now"), what="the run-now callback")
    execution = wait_for_execution(browser, schedule_id, "succeeded")
    assert "attempt 1" in execution.text
    assert execution.find_element(By.CLASS_NAME, "lag").text  # the first attempt's lag
    assert execution.find_element(By.CLASS_NAME, "to-success").text


def test_delete_asks_for_a_confirmation(browser: WebDriver, stack: Stack) -> None:  # noqa: F811
    schedule_id = webhook_job(stack, stack.ok.url + "/deleted")
    sign_in(browser, stack)
    row(browser, schedule_id).find_element(By.CSS_SELECTOR, "a.delete").click()
    wait_for_text(browser, "Delete this schedule?", schedule_id)
    browser.find_element(By.ID, "cancel-delete").click()  # changed my mind
    wait_for_text(browser, "Schedules of acme", schedule_id)
    assert stack.store.get_schedule(schedule_id) is not None

    row(browser, schedule_id).find_element(By.CSS_SELECTOR, "a.delete").click()
    wait_for_text(browser, "Delete this schedule?")
    browser.find_element(By.ID, "confirm-delete").click()
    wait_for_text(browser, f"Deleted {schedule_id}.")
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-schedule="{schedule_id}"]')
    assert stack.store.get_schedule(schedule_id) is None


def test_redrive_delivers_a_dead_letter_again(browser: WebDriver, stack: Stack) -> None:  # noqa: F811
    schedule_id = webhook_job(stack, stack.flaky.url + "/redrive")
    sign_in(browser, stack)
    click(browser, schedule_id, "button.run-now")  # answered 500: dead after its one attempt
    wait_until(lambda: stack.store.dead_letters(), what="a dead letter")
    browser.refresh()
    letter = wait_for_dead_letter(browser, schedule_id)
    assert "HTTP 500" in letter.text
    letter.find_element(By.CSS_SELECTOR, "button.redrive").click()
    wait_for_text(browser, "Redriven ", "No dead letters.")
    wait_until(lambda: stack.flaky.count() == 2, what="the redriven callback")
    execution = wait_for_execution(browser, schedule_id, "succeeded")
    statuses = [a.text for a in execution.find_elements(By.CSS_SELECTOR, "tr.attempt td.status")]
    assert statuses == ["dead", "succeeded"]  # both attempts, under their one execution


def delivered(receiver: HttpReceiver, path: str) -> bool:
    return any(request.path == path for request in list(receiver.requests))


def wait_for_execution(driver: WebDriver, schedule_id: str, status: str) -> WebElement:
    """The execution of the schedule shown with ``status``, reloading the page until it is
    (the page shows what the worker recorded when it was rendered)."""
    selector = f'tbody.execution[data-execution^="{schedule_id}:"]'

    def shown() -> WebElement | None:
        driver.refresh()
        for execution in driver.find_elements(By.CSS_SELECTOR, selector):
            if execution.find_element(By.CSS_SELECTOR, "tr.execution-head .status").text == status:
                return execution
        return None

    return wait_until(shown, what=f"a {status} execution of {schedule_id}")


def wait_for_dead_letter(driver: WebDriver, schedule_id: str) -> WebElement:
    selector = f'#dead-letters tr[data-dead-letter^="{schedule_id}:"]'
    return wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, selector), what="the letter")[0]

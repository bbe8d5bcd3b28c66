"""The dashboard in headless Chromium: sign in (through the CSRF-protected form), see a
schedule created through the API, redrive a dead letter that a real beat and webhook worker
produced, sign out; every page styled as meant under its Content-Security-Policy."""

from __future__ import annotations

import json
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from scheduler_api.app import create_app
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


def test_sign_in_see_a_schedule_and_redrive_a_dead_letter(
    browser: WebDriver,  # noqa: F811
    clean_redis: str,
    tmp_path: Path,
    store: Store,
    processes: ProcessGroup,
) -> None:
    config = Config.from_env(
        {},
        redis_url=clean_redis,
        data_dir=str(tmp_path),
        target_allowlist=("127.0.0.0/8",),
        **UNLIMITED,
    )
    creds = create_account(store, "acme", secret_key=load_secret_key(config), now_ms=now_ms())
    app = create_app(config)
    api = app.test_client()
    with HttpReceiver(statuses=[500, 200]) as receiver, ServedApp(app) as served:
        processes.beat()
        processes.worker("webhooks", max_attempts=1)
        headers = {**basic(creds), "Content-Type": "application/json"}
        cron_job = {"url": "https://example.com/report", "cron": "0 */10 * * * ?"}
        cron_id = api.post("/1/jobs", data=json.dumps(cron_job), headers=headers).get_data(
            as_text=True
        )
        failing = {"url": receiver.url + "/cb", "cron": "0 0 * * * ?"}
        failing_id = api.post("/1/jobs", data=json.dumps(failing), headers=headers).get_data(
            as_text=True
        )
        store.redis.zadd(store.keys.due(), {failing_id: now_ms()})  # its next hour is now
        wait_until(lambda: store.dead_letters(), what="a dead letter")

        browser.delete_all_cookies()
        browser.get(served.url + "/dashboard/")
        browser.find_element(By.ID, "appkey").send_keys(creds["appkey"])
        browser.find_element(By.ID, "master_secret").send_keys(creds["master_secret"])
        browser.find_element(By.ID, "sign-in").click()
        wait_for_text(browser, "Schedules of acme", cron_id, "cron 0 */10 * * * ? (UTC)")
        # The nonce'd stylesheet applies (a CSP refusal would leave the defaults)...
        assert style_of(browser, "th", "background-color") == "rgb(244, 244, 244)"
        # ...and the timeline draws its fires (SVG geometry: no inline style attribute needed).
        marks = browser.find_elements(By.CSS_SELECTOR, "#timeline rect")
        assert marks and all(mark.rect["width"] > 0 for mark in marks)
        letters = browser.find_elements(By.CSS_SELECTOR, "#dead-letters tr[data-dead-letter]")
        assert [row.get_attribute("data-dead-letter").split(":")[0] for row in letters] == [
            failing_id
        ]
        assert "HTTP 500" in letters[0].text

        letters[0].find_element(By.CSS_SELECTOR, "button.redrive").click()
        wait_for_text(browser, "No dead letters.")
        wait_until(lambda: receiver.count() == 2, what="the redriven callback")
        browser.refresh()
        wait_for_text(browser, "succeeded")

        browser.find_element(By.ID, "sign-out").click()
        wait_for_text(browser, "sign in")
        browser.get(served.url + "/dashboard/")
        wait_for_text(browser, "sign in")  # the session is over


def style_of(driver: WebDriver, selector: str, prop: str) -> str:
    element = driver.find_element(By.CSS_SELECTOR, selector)
    return driver.execute_script(
        "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", element, prop
    )

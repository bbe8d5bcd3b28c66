"""The API reference at /docs in headless Chromium: Swagger UI draws every dialect from
/openapi.json, shows an operation's examples, and nothing is loaded from, nor sent to, anywhere
but the app's own origin (no CDN, no validator badge); the page's policy refuses nothing it
needs, and "Try it out" really calls the API, signed in."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from scheduler_api.app import create_app
from scheduler_api.webhook_jobs import examples
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.browser import WAIT_S, browser  # noqa: F401  (browser is a fixture)
from tests.support import ServedApp, basic, now_ms

# Run alone after the parallel pass (Makefile): Swagger UI's page is heavy, its dialogs and clicks
# time out or land on a half-drawn page while other tests load the machine.
pytestmark = pytest.mark.serial

WATCH_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""
DIALECTS = ("webhook_jobs", "push_schedules", "task_scheduler", "beacon_jobs")
LIST_JOBS = "operations-webhook_jobs-get_webhook_jobs_list_jobs"


def element(driver: WebDriver, css: str, *texts: str) -> WebElement:
    """The first element matching ``css`` whose text holds every one of ``texts``, once there.
    (Swagger UI's page is large: reading one element is much cheaper than the whole body.)"""

    def found(d: WebDriver) -> WebElement | bool:
        for candidate in d.find_elements(By.CSS_SELECTOR, css):
            text = candidate.text
            if all(t in text for t in texts):
                return candidate
        return False

    match: WebElement = WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(
        found, message=f"no {css} showing {texts}"
    )
    return match


def test_the_reference_draws_every_dialect_from_here_only_and_tries_a_signed_in_call(
    browser: WebDriver,  # noqa: F811
    config: Config,
    store: Store,
) -> None:
    """One page load (Swagger UI is heavy): every dialect drawn, the deep-linked GET /1/jobs
    shows its examples and errors; Authorize with HTTP Basic appkey:master_secret, "Try it out":
    the answer lists the account's real job. Every file and request stayed on this origin, and
    the page's policy refused nothing."""
    creds = create_account(store, "acme", secret_key=load_secret_key(config), now_ms=now_ms())
    app = create_app(config)
    job = {"url": "https://example.com/cb", "cron": "0 15 10 ? * *"}
    headers = {**basic(creds), "Accept": "text/plain"}
    job_id = app.test_client().post("/1/jobs", json=job, headers=headers).get_data(as_text=True)
    watch = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_VIOLATIONS}
    )
    try:
        with ServedApp(app) as served:
            browser.get(served.url + "/docs#/webhook_jobs/get_webhook_jobs_list_jobs")
            element(browser, ".info .title", "Scheduled jobs")
            for dialect in DIALECTS:
                element(browser, f"#operations-tag-{dialect}")
            listed = element(browser, f"#{LIST_JOBS}", examples.JOB_ID)  # the answer's example
            assert "429" in listed.text and "application/json" in listed.text
            sign_in_and_try_it_out(browser, creds)
            answer = element(browser, f"#{LIST_JOBS} .live-responses-table", job_id)
            assert "200" in answer.text
            loaded = browser.execute_script(
                "return performance.getEntriesByType('resource').map((e) => e.name)"
            )
            violations = browser.execute_script("return window.cspViolations")
    finally:
        browser.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": watch["identifier"]}
        )
    assert served.url + "/openapi.json" in loaded
    assert served.url + "/1/jobs" in loaded  # the call "Try it out" sent
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in loaded)
    assert [url for url in loaded if not url.startswith(served.url + "/")] == []
    assert violations == []


def sign_in_and_try_it_out(browser: WebDriver, creds: dict[str, str]) -> None:  # noqa: F811
    # A click by script: under load the page may still be laying out, and another element may
    # cover the button for a moment (Selenium then refuses a real click).
    browser.execute_script("arguments[0].click()", element(browser, ".auth-wrapper .authorize"))
    form = element(browser, ".modal-ux .auth-container", "basic")
    form.find_element(By.CSS_SELECTOR, "input[type=text]").send_keys(creds["appkey"])
    form.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(creds["master_secret"])
    form.find_element(By.CSS_SELECTOR, "button.authorize").click()
    element(browser, ".modal-ux .btn-done").click()
    element(browser, f"#{LIST_JOBS} .try-out__btn").click()
    element(browser, f"#{LIST_JOBS} .execute").click()

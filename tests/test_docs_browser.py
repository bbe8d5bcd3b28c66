"""The API reference at /docs in headless Chromium: Swagger UI draws every dialect from
/openapi.json, shows an operation's examples, and nothing is loaded from, nor sent to, anywhere
but the app's own origin (no CDN, no validator badge); the page's policy refuses nothing it
needs."""

from __future__ import annotations

from selenium.webdriver.remote.webdriver import WebDriver

from scheduler_api.app import create_app
from shared.config import Config
from tests.browser import browser, wait_for_text  # noqa: F401  (browser is a fixture)
from tests.support import ServedApp

WATCH_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_the_api_reference_draws_every_dialect_from_this_origin_only(
    browser: WebDriver,  # noqa: F811
    config: Config,
) -> None:
    watch = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_VIOLATIONS}
    )
    try:
        with ServedApp(create_app(config)) as served:
            browser.get(served.url + "/docs#/webhook_jobs/post_webhook_jobs_create_job")
            wait_for_text(
                browser,
                "Scheduled jobs",
                "webhook_jobs",
                "push_schedules",
                "task_scheduler",
                "beacon_jobs",
                "/api/jobs/{job_id}",
                "Authorize",
            )
            # the deep link opened POST /1/jobs: its request example and its error answers
            wait_for_text(
                browser, "https://example.com/my-callback", "a one-time job", "401", "429"
            )
            loaded = browser.execute_script(
                "return performance.getEntriesByType('resource').map((e) => e.name)"
            )
            violations = browser.execute_script("return window.cspViolations")
    finally:
        browser.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": watch["identifier"]}
        )
    assert served.url + "/openapi.json" in loaded
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in loaded)
    assert [url for url in loaded if not url.startswith(served.url + "/")] == []
    assert violations == []

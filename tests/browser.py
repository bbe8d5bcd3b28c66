"""A headless Chromium for tests that look at a page as a person would (Flower, the dashboard).

Debian's ``chromium`` and ``chromium-driver`` are used, never a browser downloaded by a tool.
Installing them is an explicit step, ``make browser`` (``make test`` runs it); without them the
browser tests skip with a loud message. Selenium is pointed at ``/usr/bin/chromedriver``
explicitly, which keeps Selenium Manager (and its downloads) out.

Use it by importing the fixture into a test module::

    from tests.browser import browser  # noqa: F401  (a pytest fixture)

    def test_page(browser): browser.get(url); wait_for_text(browser, "hello")
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 40.0  # longest wait for a condition on a page (tests run in parallel: a loaded machine)


def ensure_chromium() -> None:
    """Skip the test, loudly, when Chromium or its driver is missing."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    message = "BROWSER TESTS SKIPPED: Chromium is missing; `make browser` installs it"
    print(f"\n{'!' * 70}\n{message}\n{'!' * 70}", file=sys.stderr)
    pytest.skip(message)


def new_browser() -> WebDriver:
    """A headless Chromium driven by Debian's chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    return driver


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the session (starting one costs a second or two)."""
    ensure_chromium()
    driver = new_browser()
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver: WebDriver, *texts: str, timeout_s: float = WAIT_S) -> str:
    """Wait until the page's visible text contains every one of ``texts``; return that text."""

    def page_text(d: WebDriver) -> str | bool:
        try:
            text = d.find_element("tag name", "body").text
        except WebDriverException as exc:
            # Chromium's own word for a stale body when the page is replaced mid-read.
            if "does not belong to the document" not in str(exc):
                raise
            return False
        return text if all(t in text for t in texts) else False

    try:
        # A page being replaced (after a click) makes the old body stale: just look again.
        ignored = (StaleElementReferenceException, NoSuchElementException)
        wait = WebDriverWait(driver, timeout_s, poll_frequency=0.1, ignored_exceptions=ignored)
        return wait.until(page_text)
    except TimeoutException as exc:
        body = driver.find_element("tag name", "body").text[:2000]
        raise AssertionError(
            f"{driver.current_url} never showed {texts}; it shows:\n{body}"
        ) from exc

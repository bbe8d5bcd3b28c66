"""`scheduler flower` shows our worker pools and task names, looked at in a real headless Chromium.

Real parts only: the session's Redis, two worker pools started as Celery processes, Flower started
through our own `scheduler flower` command on a free loopback port.
"""

from __future__ import annotations

import importlib.util
import socket
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from shared.contract import TASK_BY_TARGET
from tests import browser as browser_module
from tests.browser import browser, wait_for_text  # noqa: F401  (browser is a fixture)
from tests.support import ProcessGroup, free_port, wait_until


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def start_flower(processes: ProcessGroup) -> str:
    port = free_port()
    processes.start(["scheduler_cli.main", "flower"], api_host="127.0.0.1", flower_port=port)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/healthcheck"), 20, "Flower to answer")
    return base


def worker_name(pool: str, index: int) -> str:
    """The node name tests.support gives the index-th process it starts for ``pool``."""
    return f"{pool}-{index}@{socket.gethostname()}"


ROWS_JS = """
return Array.from(document.querySelectorAll('#workers-table tbody tr'),
                  row => Array.from(row.cells, cell => cell.textContent.trim()));
"""


QUEUES_JS = ROWS_JS.replace("#workers-table tbody tr", "#worker-queues tr")


def online_workers(driver: WebDriver) -> set[str]:
    """The names the workers table (rendered by Flower's JS) shows as online. Read in one script
    run: the table is redrawn as updates arrive, which would make row-by-row reads go stale."""
    rows = driver.execute_script(ROWS_JS)
    return {cells[0] for cells in rows if len(cells) > 1 and cells[1] == "Online"}


def worker_page(
    driver: WebDriver, page: str, name: str, expected: list[str]
) -> tuple[list[str], str]:
    """The queues and the registered tasks Flower's page for one worker lists. Flower asks the
    worker by broadcasts with a short timeout when the page is served, so a worker busy starting
    (or a loaded machine) can answer late and the page shows none yet: load it again until both
    parts came (bounded), then the caller checks what they hold."""
    seen: tuple[list[str], str] = ([], "")

    def arrived() -> bool:
        nonlocal seen
        driver.get(page)
        wait_for_text(driver, name)
        queues = [cells[0] for cells in driver.execute_script(QUEUES_JS)]
        if not driver.find_elements(By.ID, "worker-tab-limits"):
            return False  # served without the worker's details (no answer in time): again
        tasks = open_tab(driver, "limits")  # Flower lists the registered tasks under "Limits"
        seen = (queues, tasks)
        return bool(queues) and any(task in tasks for task in expected)

    wait_until(arrived, 30, f"Flower's page for {name} to list its queues and tasks")
    return seen


def open_tab(driver: WebDriver, tab: str) -> str:
    driver.find_element(By.ID, f"worker-tab-{tab}").click()
    pane = driver.find_element(By.ID, f"tab-{tab}")
    wait_until(pane.is_displayed, 5, f"the {tab} tab to show")
    return pane.text


def test_flower_shows_our_workers_by_pool_and_their_tasks(
    browser: WebDriver,  # noqa: F811
    processes: ProcessGroup,
) -> None:
    pools = ("webhooks", "push")
    for pool in pools:
        processes.worker(pool, concurrency=1)
    names = {pool: worker_name(pool, index) for index, pool in enumerate(pools)}
    base = start_flower(processes)

    browser.get(f"{base}/workers")
    wanted = set(names.values())
    wait_until(lambda: online_workers(browser) >= wanted, 20, f"{wanted} online in Flower")
    browser.save_screenshot(str(processes.workdir / "flower-workers.png"))

    # The delivery task of every pool whose module exists, as each worker reports it registered
    # (every worker loads every pool's module).
    expected = [
        task
        for task in TASK_BY_TARGET.values()
        if importlib.util.find_spec(task.rsplit(".", 1)[0]) is not None
    ]
    assert TASK_BY_TARGET["webhook"] in expected
    for pool, name in names.items():
        page = f"{base}/worker/{quote(name, safe='@')}"
        queues, tasks = worker_page(browser, page, name, expected)
        assert queues == [pool], f"{name} consumes {queues}"
        missing = [task for task in expected if task not in tasks]
        assert missing == [], f"{name}'s registered tasks lack {missing}: {tasks}"


def test_without_chromium_the_browser_tests_skip_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(browser_module, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.skip.Exception, match="BROWSER TESTS SKIPPED.*make browser"):
        browser_module.ensure_chromium()
    assert "BROWSER TESTS SKIPPED" in capsys.readouterr().err

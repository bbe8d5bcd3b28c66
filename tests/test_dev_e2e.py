"""The real ``scheduler dev`` (what ``make run`` runs): its quiet start, the landing page its first
URL leads to, and that no process outlives it, however it ends (the SIGHUP a shell passes on when
its terminal closes, a terminal closed under a shell that keeps it, or a SIGKILL that leaves it no
time to clean up)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scheduler_cli.dev import service_children
from tests.dev_support import GONE_TIMEOUT_S, DevRun
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHILDREN = [spec.name for spec in service_children()]
NOISE = ("-------------- ", "celery@", "[queues]", "Warning", "wake channel error", "Traceback")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRun]:
    """One running service for this module; test_sighup_... (the last test) ends it."""
    run = DevRun(tmp_path_factory.mktemp("dev") / "var")
    try:
        run.wait_for_urls()
        yield run
    finally:
        run.end()


def urls_in(output: str) -> list[str]:
    return re.findall(r"https?://\S+", output.split("the service is running")[1])


def test_start_prints_a_ready_line_per_process_then_the_urls_and_nothing_else(
    service: DevRun,
) -> None:
    lines = service.output().splitlines()
    block = lines.index("scheduler dev: the service is running; Ctrl-C stops it.")
    ready, urls = lines[:block], lines[block:]
    assert ready[0].startswith("scheduler dev: redis ready (embedded, data in ")
    names = [re.fullmatch(r"scheduler dev: (\S+) ready \(\d+\.\d s\)", x) for x in ready[1:-1]]
    assert sorted(m.group(1) for m in names if m) == sorted(CHILDREN), ready
    assert ready[-1] == ""  # a blank line, then the URL block, and the URL block is last
    assert urls[1].split() == ["API", urls_in(service.output())[0]]
    assert urls[-1].startswith(f"  Logs             {service.data_dir / 'logs'}/NAME.log")
    for noise in NOISE:
        assert noise not in service.output()
    # The banners went to the children's logs instead; the beat's shows no wake channel error.
    logs = service.data_dir / "logs"
    assert "[queues]" in (logs / "worker-webhooks.log").read_text()
    assert "beat: Starting" in (logs / "beat.log").read_text()
    assert "wake channel error" not in (logs / "beat.log").read_text()


def test_the_first_url_is_the_landing_page_and_every_link_answers(service: DevRun) -> None:
    printed = urls_in(service.output())
    page = requests.get(printed[0], headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "Scheduled jobs" in page.text
    links = requests.get(printed[0], timeout=10).json()["links"]
    # The page links what the terminal printed (and health besides).
    assert set(printed) - {printed[-1]} <= set(links.values())  # the last one: Redis
    for name, url in links.items():
        assert requests.get(url, timeout=10).status_code == 200, (name, url)


def test_sighup_of_a_closed_terminal_stops_every_process(service: DevRun) -> None:
    assert len(service.survivors()) >= len(CHILDREN) + 1  # the children, Redis, pool processes
    service.process.send_signal(signal.SIGHUP)
    assert service.process.wait(timeout=GONE_TIMEOUT_S) == 0
    assert "SIGHUP: stopping every process" in service.output()
    assert wait_until(lambda: not service.survivors(), GONE_TIMEOUT_S, "no survivor") is True


def test_closing_its_terminal_stops_every_process(tmp_path: Path) -> None:
    run = DevRun(tmp_path / "var", terminal=True)
    try:
        run.wait_for_urls()
        assert len(run.survivors()) >= len(CHILDREN) + 1
        run.close_terminal()  # its shell keeps the SIGHUP: scheduler dev sees the hang-up
        wait_until(lambda: not run.survivors(), GONE_TIMEOUT_S, "every process to end")
        assert run.process.wait(timeout=5) == 0  # the shell, once scheduler dev ended
    finally:
        run.end()


def test_sigkill_of_scheduler_dev_leaves_no_orphan(tmp_path: Path) -> None:
    run = DevRun(tmp_path / "var")
    try:
        run.wait_for_urls()
        assert len(run.survivors()) >= len(CHILDREN) + 1
        assert any("redis-server" in process for process in run.survivors())  # found too
        run.process.send_signal(signal.SIGKILL)  # no handler runs: the children are on their own
        run.process.wait(timeout=5)
        wait_until(lambda: not run.survivors(), GONE_TIMEOUT_S, "the children to end")
    finally:
        run.end()

"""How the operator commands write spans, instants and cells for a person."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from scheduler_cli.output import cell, duration, local_time, shorten


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (0, "0 ms"),
        (350, "350 ms"),
        (1_240, "1.2 s"),
        (185_000, "3 min 5 s"),
        (7_800_000, "2 h 10 min"),
        (47 * 3_600_000, "47 h 0 min"),
        (3 * 86_400_000 + 4 * 3_600_000, "3 d 4 h"),
        (None, None),
    ],
)
def test_a_span_reads_in_the_unit_that_fits(ms: int | None, shown: str | None) -> None:
    assert duration(ms) == shown


def test_an_instant_is_shown_in_the_local_zone_with_its_name(tokyo: None) -> None:
    assert local_time(1_796_428_800_000) == "2026-12-05 09:00:00 JST"  # 00:00 UTC
    assert local_time(None) is None


def test_an_instant_past_what_the_platform_holds_is_shown_not_raised(tokyo: None) -> None:
    assert local_time(10**33) == f"{10**33} ms after 1970"


def test_cells_and_one_line_texts() -> None:
    assert [cell(None), cell(""), cell(True), cell(False), cell(3)] == ["-", "-", "yes", "no", "3"]
    assert shorten("HTTP 500\n  from  host", 60) == "HTTP 500 from host"
    assert shorten("x" * 80, 20) == "x" * 17 + "..."

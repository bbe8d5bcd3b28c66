"""Chaos, bounded: one-off webhook jobs fall due while webhooks workers, beats and Redis are
SIGKILLed and receivers hang or reset, and nothing acknowledged is lost or run twice.

Each test is one scenario of tests/chaos_support.py, a few seconds of load at test size
(bench/chaos.py runs the same for minutes); it prints its figures in one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos_figures import Figures
from tests.chaos_support import SCENARIOS, run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


def assert_nothing_lost_or_doubled(figures: Figures) -> None:
    assert figures.jobs > 0
    assert figures.lost_ids == []
    assert figures.duplicate_ids == []
    assert figures.delivered + figures.dead_lettered == figures.jobs


def test_webhooks_workers_killed_at_due_instants(tmp_path: Path) -> None:
    figures = run(SCENARIOS["a"], tmp_path)
    assert_nothing_lost_or_doubled(figures)
    assert figures.kills["worker"] >= 2
    assert figures.crashes == []


def test_beats_killed_mid_claim(tmp_path: Path) -> None:
    figures = run(SCENARIOS["b"], tmp_path)
    assert_nothing_lost_or_doubled(figures)
    assert figures.kills["beat"] >= 2
    assert figures.crashes == []


def test_redis_killed_and_restarted_from_its_append_only_file(tmp_path: Path) -> None:
    figures = run(SCENARIOS["c"], tmp_path)
    assert_nothing_lost_or_doubled(figures)
    assert figures.kills["redis"] >= 2
    assert figures.crashes == []  # the beat and the worker ride the restarts out


def test_hanging_and_resetting_receivers(tmp_path: Path) -> None:
    figures = run(SCENARIOS["d"], tmp_path)
    assert_nothing_lost_or_doubled(figures)
    assert figures.dead_lettered > 0  # the failing receivers' jobs, after their attempts
    assert figures.crashes == []


def test_everything_at_once(tmp_path: Path) -> None:
    figures = run(SCENARIOS["e"], tmp_path)
    assert_nothing_lost_or_doubled(figures)
    assert figures.dead_lettered > 0
    assert min(figures.kills.get(role, 0) for role in ("worker", "beat", "redis")) >= 1
    # A worker started again while Redis is away exits at once (2) and is started again by its
    # supervisor; none that was up may exit.
    assert [note for note in figures.crashes if "while up" in note] == []

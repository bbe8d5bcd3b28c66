"""The native API (/v1/) fuzzed as tests/test_fuzz_all.py fuzzes the other groups: in a module of
its own, the longest group, so a parallel run gives it a worker of its own."""

from __future__ import annotations

import pytest
from flask import Flask

from shared.config import Config
from shared.store import Store
from tests.test_fuzz_all import app, fuzz_group

__all__ = ["app"]  # the fixture, shared with tests/test_fuzz_all.py


@pytest.mark.timeout(600)
def test_every_native_operation_answers_without_server_errors_and_as_documented(
    app: Flask, config: Config, store: Store
) -> None:
    fuzz_group("native", app, config, store)

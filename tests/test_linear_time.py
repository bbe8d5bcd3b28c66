"""No parser, regular expression or validation on a request or log path is worse than linear.

Each suspect is timed on an input of size n and of size 8n (this thread's CPU time, best of
several runs, inputs built before timing). Linear work grows about 8 times; quadratic work 64
times. The bound (24) leaves room for noise and for n log n, and still fails anything quadratic.
Sizes are picked so the small run takes a few milliseconds, and the large stays within the
request caps where a cap applies (a 16 KiB webhook body, the 1 MiB beacon form).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from scheduler_api import formats
from shared import logs, payload_limits
from shared.errors import InvalidTrigger
from shared.public_errors import without_paths
from shared.timing import parse_iso8601, parse_wall_clock
from shared.timing.cron import _cron_plan

FACTOR = 8
MOST_GROWTH = 24  # linear: ~8; quadratic: ~64


def attempt(func: Callable[[Any], object], arg: Any) -> None:
    with contextlib.suppress(ValueError, InvalidTrigger):  # a refusal's time counts too
        func(arg)


def best_time(func: Callable[[Any], object], arg: Any, runs: int = 5) -> float:
    """CPU time of this thread, not wall time: time spent descheduled on a busy machine (other
    tests, other processes) does not count, so the ratio measures the work done."""
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        attempt(func, arg)
        best = min(best, time.thread_time() - start)
    return best


def growth(func: Callable[[Any], object], make: Callable[[int], Any], n: int) -> float:
    small, large = make(n), make(FACTOR * n)
    attempt(func, small)  # warm caches (regex compilation, imports)
    return best_time(func, large) / max(best_time(func, small), 1e-6)


def assert_linear(func: Callable[[Any], object], make: Callable[[int], Any], n: int) -> None:
    ratio = growth(func, make, n)
    if ratio >= MOST_GROWTH:  # one retry: a descheduled run can inflate a single measurement
        ratio = min(ratio, growth(func, make, n))
    assert ratio < MOST_GROWTH, f"time grew {ratio:.0f}x for {FACTOR}x the input"


def parse_json(text: str) -> object:
    return formats.parse_json(text.encode())


JSON_BODIES = {
    # The trailing-comma pass looked ahead from every comma (text[i+1:].lstrip()): 0.85 s for a
    # 256 KiB push body of commas before, 0.02 s after.
    "commas": lambda n: "[" + "," * n,
    "comma-space": lambda n: "[" + ", " * n,
    "trailing commas, valid after": lambda n: "[" + "0 ,  " * n + "]",
    "commas in strings": lambda n: '["' + ",}" * n + '",]',
    "escaped quotes": lambda n: '["' + '\\",' * n + '",]',
    "long number": lambda n: "[" + "1" * min(n, 4000) + "]" + " " * n,
    "deep": lambda n: "[" * n,
}


@pytest.mark.parametrize("make", JSON_BODIES.values(), ids=JSON_BODIES.keys())
def test_json_bodies_parse_in_linear_time(make: Callable[[int], str]) -> None:
    assert_linear(parse_json, make, 16_384)


LOG_LINES = {
    # The access log carries the request line; the URL-password pattern rescanned a run of
    # letters from each position: a 60 KB query string took 20.7 s of CPU (under the GIL,
    # the whole API) before, 0.01 s after.
    "query of letters": lambda n: "GET /1/jobs?" + "a" * n + " HTTP/1.1",
    "schemes": lambda n: "a://b:" * n,
    "scheme then colons": lambda n: "a://b:" + ":" * n,
    "userinfo without host": lambda n: "http://user:" + "p" * n,
    "key=quote": lambda n: 'token="' + "x" * n,
    "keys": lambda n: "password=" * n,
    "key spaces": lambda n: "token" + " " * n,
    "basic": lambda n: "Basic " + "A" * n,
    "basic words": lambda n: "Basic a " * n,
    "whsec": lambda n: "whsec_" * n,
    "ansi": lambda n: "\x1b[" + "1" * n,
    "ansi repeated": lambda n: "\x1b[1" * n,
}


@pytest.mark.parametrize("make", LOG_LINES.values(), ids=LOG_LINES.keys())
def test_log_redaction_is_linear(make: Callable[[int], str]) -> None:
    assert_linear(logs.redact, make, 8_192)


def test_json_log_lines_are_linear() -> None:
    formatter = logs.JsonFormatter()

    def log_line(message: str) -> str:
        import logging

        record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, message, None, None)
        logs.RedactSecrets().filter(record)
        return formatter.format(record)

    assert_linear(log_line, LOG_LINES["query of letters"], 8_192)


XML_BODIES = {  # the 16 KiB webhook body holds about 2,300 levels of <a>
    "many fields": lambda n: "<job>" + "<x>1</x>" * n + "</job>",
    "long tag": lambda n: "<" + "a" * n + "/>",
    "deep": lambda n: "<job>" + "<a>" * (n // 4) + "</a>" * (n // 4) + "</job>",
    "long text": lambda n: "<job><data>" + "x" * n + "</data></job>",
    "unclosed": lambda n: "<job " + 'a="1" ' * n,
}


@pytest.mark.parametrize("make", XML_BODIES.values(), ids=XML_BODIES.keys())
def test_xml_bodies_parse_in_linear_time(make: Callable[[int], str]) -> None:
    assert_linear(lambda text: formats.parse_xml_fields(text.encode(), "job"), make, 2_048)


def test_error_messages_are_clipped_in_linear_time() -> None:
    assert_linear(formats.clip_message, lambda n: ("x" * 80 + " ") * (n // 81), 65_536)
    assert_linear(formats.clip_message, lambda n: "x" * n, 65_536)


CRONS = {
    # Webhook cron strings are up to 16 KiB, beacon cron fields up to the 1 MiB form.
    "minute list": lambda n: ",".join(["1"] * n) + " * * * *",
    "range list": lambda n: ",".join(["1-59/2"] * n) + " * * * *",
    "quartz list": lambda n: "0 " + ",".join(["5"] * n) + " * ? * *",
    "day names": lambda n: "0 0 * * " + ",".join(["MON-FRI"] * n),
    "nth weekdays": lambda n: "0 0 0 ? * " + ",".join(["2#1"] * n),
    "long digits": lambda n: "1" * n + " * * * *",
    "long step": lambda n: "*/" + "1" * n + " * * * *",
    "many fields": lambda n: " ".join(["*"] * n),
}


@pytest.mark.parametrize("make", CRONS.values(), ids=CRONS.keys())
def test_cron_expressions_parse_in_linear_time(make: Callable[[int], str]) -> None:
    assert_linear(_cron_plan.__wrapped__, make, 1_024)


def test_long_numbers_in_cron_are_refused_not_crashed() -> None:
    digits = "1" * 5000  # int() refuses past 4300 digits with a ValueError: must be a 4xx
    for expr in (f"{digits} * * * *", f"*/{digits} * * * *", f"0 0 0 ? * 1#{digits}"):
        with pytest.raises(InvalidTrigger):
            _cron_plan.__wrapped__(expr)


@pytest.mark.parametrize("parse", [parse_iso8601, parse_wall_clock])
def test_time_strings_parse_in_linear_time(parse: Callable[[str], object]) -> None:
    assert_linear(parse, lambda n: "2026-01-01T00:00:00" + "0" * n, 65_536)


ERROR_TEXTS = {  # error messages quote request input, then lose their server paths
    "path parts": lambda n: " /" + "a/" * n,
    "one long part": lambda n: " /" + "a" * n,
    "many starts": lambda n: " /a" * n,
    "url paths": lambda n: "https://h/" + "a/" * n,
}


@pytest.mark.parametrize("make", ERROR_TEXTS.values(), ids=ERROR_TEXTS.keys())
def test_server_paths_are_cut_from_errors_in_linear_time(make: Callable[[int], str]) -> None:
    assert_linear(without_paths, make, 16_384)


JSON_VALUES = {
    "deep": lambda n: _nested(n),
    "wide": lambda n: list(range(n)),
    "many keys": lambda n: {str(k): k for k in range(n)},
}


def _nested(n: int) -> object:
    value: object = []
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize("make", JSON_VALUES.values(), ids=JSON_VALUES.keys())
def test_json_value_depth_is_measured_in_linear_time(make: Callable[[int], object]) -> None:
    assert_linear(payload_limits.depth, make, 16_384)

"""The create-time check of a callback URL remembers the verdicts that let a URL through: for
ever for an IP host, for at most NAME_TTL_S for a name (its DNS answer may change)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from shared import callback_check
from shared.callback_check import check_callback
from shared.netguard import UnsafeTarget


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A scripted resolver: ``answers[name]`` is what ``name`` resolves to now; each lookup is
    counted in ``answers["asked"]``."""
    answers: dict[str, list[str]] = {"asked": []}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        answers["asked"].append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_name_is_looked_up_once_per_period_and_again_after_it(
    lookups: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(callback_check.time, "monotonic", lambda: now[0])
    lookups["hooks.example.com"] = ["93.184.216.34"]
    for _ in range(3):
        check_callback("https://hooks.example.com/a", ())
    assert lookups["asked"] == ["hooks.example.com"]
    # The name now points inside: refused once the remembered verdict has expired.
    lookups["hooks.example.com"] = ["10.0.0.1"]
    now[0] += callback_check.NAME_TTL_S
    with pytest.raises(UnsafeTarget, match="private-use"):
        check_callback("https://hooks.example.com/a", ())


def test_an_ip_host_is_checked_once_and_refusals_every_time(
    lookups: dict[str, list[str]],
) -> None:
    for _ in range(3):
        check_callback("http://93.184.216.34/hook", ())
    assert callback_check._passed.cache_info().misses == 1
    for _ in range(2):
        with pytest.raises(UnsafeTarget, match="loopback"):
            check_callback("http://127.0.0.1:9/", ())
    check_callback("http://127.0.0.1:9/", ("127.0.0.1/32",))  # the allowlist is in the key
    assert callback_check._passed.cache_info().misses == 4
    assert lookups["asked"] == []  # an IP host is never looked up


def test_a_name_that_does_not_resolve_yet_is_accepted(lookups: dict[str, list[str]]) -> None:
    check_callback("https://not-live-yet.example.com/", ())
    with pytest.raises(UnsafeTarget):
        check_callback(42, ())  # not a string at all

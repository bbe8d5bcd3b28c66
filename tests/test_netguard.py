"""Outbound address rules: private, loopback and other internal addresses are refused."""

from __future__ import annotations

import pytest

from shared.netguard import UnsafeTarget, check_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f000001/",  # ... in hex
        "http://127.1/",  # ... shortened
        "http://0.0.0.0/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="address"):
        check_url(url, allowlist=())


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="http"):
        check_url(url, allowlist=())


def test_public_addresses_and_the_allowlist_pass() -> None:
    assert [str(a) for a in check_url("http://93.184.215.14/", allowlist=())] == ["93.184.215.14"]
    assert check_url("http://127.0.0.1:9/", allowlist=["127.0.0.0/8"])
    with pytest.raises(UnsafeTarget):
        check_url("http://10.0.0.1/", allowlist=["127.0.0.0/8"])


def test_an_unresolvable_host_is_refused_unless_accepted_for_later() -> None:
    with pytest.raises(UnsafeTarget, match="does not resolve"):
        check_url("http://no-such-host.invalid/", allowlist=())
    assert check_url("http://no-such-host.invalid/", allowlist=(), unresolvable_ok=True) == []

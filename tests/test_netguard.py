"""Outbound URL rules: one reading of every URL, and the special-purpose address table.

The big list of hostile spellings is tests/ssrf_corpus.py (run by tests/test_ssrf_corpus.py);
here: the table row by row and at its edges, what one reading gives, and where operator URLs
(the push gateway, the task classes file) are read.
"""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import pytest

from shared import netguard
from shared.config import Config
from shared.errors import ConfigError
from shared.netguard import (
    SPECIAL_PURPOSE,
    UnsafeTarget,
    blocked_reason,
    check_target,
    check_url,
    read_url,
)
from shared.task_classes import registered


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
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
        "http://[fec0::1]/",  # site-local
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="^url: .*refused range"):
        check_url(url, allowlist=())


def test_every_row_of_the_table_is_refused_at_both_ends() -> None:
    for network, name, rfc in SPECIAL_PURPOSE:
        for address in (network[0], network[-1]):
            reason = blocked_reason(address)
            assert reason is not None, (network, name)
            assert "RFC" in reason, reason
        assert rfc.startswith("RFC ")


@pytest.mark.parametrize(
    "address",
    [
        "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
        "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0",
        "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255",
        "192.31.196.1", "192.175.48.1",  # AS112: globally reachable per the registry
        "2606:4700:4700::1111", "2a00:1450::1", "3ffe::1",
        "64:ff9b::808:808", "2002:808:808::1",  # NAT64 and 6to4 of a public address
    ],
)  # fmt: skip
def test_public_addresses_next_to_the_ranges_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"),
        ("64:ff9b:1::808:808", "local-use IPv4/IPv6 translation"),
        ("2002:c0a8:101::1", "private-use"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("::7f00:1", "IPv4-compatible"),
        ("fec0::1", "site-local"),
        ("4000::1", "outside 2000::/3"),
    ],
)
def test_ipv6_forms_name_what_they_are(address: str, says: str) -> None:
    assert says in (blocked_reason(ipaddress.ip_address(address)) or "")


def test_the_allowlist_admits_what_it_lists_and_nothing_else() -> None:
    assert check_url("http://127.0.0.1:9/", allowlist=["127.0.0.0/8"])
    assert check_url("http://[fec0::1]/", allowlist=["fec0::/10"])
    with pytest.raises(UnsafeTarget):
        check_url("http://10.0.0.1/", allowlist=["127.0.0.0/8"])
    with pytest.raises(UnsafeTarget):  # the mapped form of an allowed address is another address
        check_url("http://[::ffff:127.0.0.1]/", allowlist=["127.0.0.0/8"])
    with pytest.raises(UnsafeTarget):  # parsing rules are not the allowlist's to waive
        check_url("http://2130706433/", allowlist=["127.0.0.0/8"])


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="^url: .*http"):
        check_url(url, allowlist=())


def test_public_addresses_pass_without_a_lookup() -> None:
    assert [str(a) for a in check_url("http://93.184.215.14/", allowlist=())] == ["93.184.215.14"]


def test_an_unresolvable_host_is_refused_unless_accepted_for_later() -> None:
    with pytest.raises(UnsafeTarget, match="^url: host 'no-such-host.invalid' does not resolve"):
        check_url("http://no-such-host.invalid/", allowlist=())
    assert check_url("http://no-such-host.invalid/", allowlist=(), unresolvable_ok=True) == []


@pytest.mark.parametrize(
    ("url", "host", "port", "request_uri", "host_header", "pinned"),
    [
        ("HTTP://Example.COM/a/../b?x=1#f", "example.com", 80, "/b?x=1", "example.com",
         "http://93.184.215.14:80/b?x=1"),
        ("https://bücher.example:8443", "xn--bcher-kva.example", 8443, "/",
         "xn--bcher-kva.example:8443", "https://93.184.215.14:8443/"),
        ("http://[2606:4700::1]:8080/p", "2606:4700::1", 8080, "/p", "[2606:4700::1]:8080",
         "http://93.184.215.14:8080/p"),
        ("http://example.com/café", "example.com", 80, "/caf%C3%A9", "example.com",
         "http://93.184.215.14:80/caf%C3%A9"),
    ],
)  # fmt: skip
def test_one_reading_gives_what_the_client_sends(
    url: str, host: str, port: int, request_uri: str, host_header: str, pinned: str
) -> None:
    reading = read_url(url)
    assert (reading.host, reading.port, reading.request_uri) == (host, port, request_uri)
    assert reading.host_header == host_header
    assert reading.url_at(ipaddress.ip_address("93.184.215.14")) == pinned


def test_a_url_read_from_its_origins_reading_reads_as_the_whole_url() -> None:
    """One-off jobs' URLs differ in their paths: those read from their origin's reading (cached)
    must read exactly as the URL read whole, with every parser; the others are read whole."""
    rng = random.Random(14)
    chars = "aZ09._~!$&'()*+,;=:/?-%@#"
    origins = ["http://127.0.0.1", "https://Example.com:8443", "http://[2606:4700::1]", "http://h_"]
    for _ in range(3000):
        path = "/" + "".join(rng.choice(chars) for _ in range(rng.randint(0, 10)))
        url = rng.choice(origins) + path
        try:
            whole: object = netguard._read(url, "url")
        except UnsafeTarget as exc:
            whole = str(exc)
        try:
            read: object = read_url(url)
        except UnsafeTarget as exc:
            read = str(exc)
        assert read == whole, url
    for url in ("http://h.example/a/../b", "http://h.example/%zz", "http://h.example/a#f"):
        assert read_url(url) == netguard._read(url, "url")


def test_a_check_keeps_its_reading_with_the_addresses() -> None:
    target = check_target("http://93.184.215.14:8080/x?y", allowlist=())
    assert target.url == read_url("http://93.184.215.14:8080/x?y")
    assert target.addresses == (ipaddress.ip_address("93.184.215.14"),)


def test_messages_name_the_field_and_never_grow_with_the_input() -> None:
    with pytest.raises(UnsafeTarget) as refused:
        read_url("http://" + "a" * 5000 + ".example/", field="callback")
    assert str(refused.value).startswith("callback: ")
    assert len(str(refused.value)) < 400
    with pytest.raises(UnsafeTarget, match="^url: must be"):
        read_url(None)


# --- operator URLs: read at start-up, checked again at every call ------------------------------


def test_the_push_gateway_url_is_read_at_start_up() -> None:
    url = "https://push.example.com/v4/push"
    assert Config.from_env({"SCHEDULER_PUSH_GATEWAY_URL": url}).push_gateway_url == url
    for bad in ("http://user:pw@push.example.com/", "http://0x7f.1/v4/push", "push.example"):
        with pytest.raises(ConfigError, match="^SCHEDULER_PUSH_GATEWAY_URL: "):
            Config.from_env({"SCHEDULER_PUSH_GATEWAY_URL": bad})


@pytest.mark.parametrize(
    "url", ["http://a@127.0.0.1/", "http://127.1/", "http://x\\@y/", "http://[::1%25lo]/"]
)
def test_task_classes_file_urls_get_one_reading(tmp_path: Path, url: str) -> None:
    path = tmp_path / "classes.json"
    path.write_text(json.dumps({"\\App\\Tasks\\X": url}))
    config = Config.from_env({}, data_dir=str(tmp_path), task_classes_file=str(path))
    with pytest.raises(ConfigError, match=r"Tasks\\\\X' must map to an http\(s\) URL: "):
        registered(config)

"""URL spellings an attacker tries against an SSRF rule, each with the verdict the service owes it.

Sources of the ideas: the OWASP SSRF prevention cheat sheet (numeric host spellings, DNS names
that answer internal addresses, cloud metadata endpoints, scheme tricks) and Orange Tsai's "A New
Era of SSRF" (URL parsers that disagree about userinfo, backslashes, fragments, whitespace and
unicode), plus the IANA special-purpose address registries, edge to edge.

Verdicts:

- ``MALFORMED``: refused whatever the allowlist says, before any name is resolved: it is not
  a plain http(s) URL that every parser reads the same way.
- ``BLOCKED``: a well-formed URL whose host is (or resolves to) an address that is refused, and
  that an allowlist of ``127.0.0.0/8`` does not admit either.
- ``LOOPBACK``: a well-formed URL whose host is (or resolves to) exactly 127.0.0.1 and whose port
  is the receiver's: refused with no allowlist, delivered to the receiver with ``127.0.0.0/8``.
- ``PUBLIC``: accepted at create time (names do not resolve in the tests; an unresolvable name is
  accepted at create time because a domain may not be live yet). Never connected to.

``PORT`` in a URL stands for the test receiver's port. Names in ``DNS`` are answered by a scripted
resolver, as a hostile DNS server would answer them; every other name does not resolve.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import NamedTuple

from tests import ssrf_corpus_malformed as refused

MALFORMED, BLOCKED, LOOPBACK, PUBLIC = "malformed", "blocked", "loopback", "public"

DNS: dict[str, list[str]] = {
    "localhost": ["127.0.0.1"],
    "localhost.": ["127.0.0.1"],
    "loopback.test": ["127.0.0.1"],
    "localtest.me": ["127.0.0.1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "7f000001.rbndr.us": ["127.0.0.1"],
    "xn--bcher-kva.test": ["127.0.0.1"],  # bücher.test
    "metadata.google.internal": ["169.254.169.254"],
    "instance-data": ["169.254.169.254"],
    "internal.test": ["10.0.0.1"],
    "cgnat.test": ["100.64.0.1"],
    "mixed.test": ["93.184.215.14", "10.0.0.1"],  # every address is checked, not the first
    "v6loop.test": ["::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "nat64.test": ["64:ff9b::7f00:1"],
    "sitelocal.test": ["fec0::1"],
    "ula.test": ["fd00::1"],
    "zero.test": ["0.0.0.0"],
}


class Case(NamedTuple):
    verdict: str
    url: str
    why: str


def _cases(verdict: str, rows: list[tuple[str, str]]) -> list[Case]:
    return [Case(verdict, url, why) for url, why in rows]


_loopback = _cases(
    LOOPBACK,
    [
        ("http://127.0.0.1:PORT/", "the plain spelling"),
        ("http://127.0.0.1:PORT", "no path"),
        ("http://127.0.0.1:PORT/hook?x=1&y=2", "path and query"),
        ("HTTP://127.0.0.1:PORT/", "upper-case scheme"),
        ("hTtP://127.0.0.1:PORT/", "mixed-case scheme"),
        ("http://localhost:PORT/", "a name for loopback"),
        ("http://LOCALHOST:PORT/", "upper-case name"),
        ("http://localhost.:PORT/", "fully qualified, trailing dot"),
        ("http://loopback.test:PORT/", "a DNS name answering 127.0.0.1"),
        ("http://localtest.me:PORT/", "a public name that answers 127.0.0.1"),
        ("http://127.0.0.1.nip.io:PORT/", "wildcard DNS with the address inside the name"),
        ("http://7f000001.rbndr.us:PORT/", "rebinding service name"),
        ("http://bücher.test:PORT/", "an IDN that answers 127.0.0.1"),
        ("http://BÜCHER.test:PORT/", "an upper-case IDN"),
        ("http://127.0.0.1:PORT/#frag", "a fragment"),
        ("http://127.0.0.1:PORT#@evil.example/", "userinfo look-alike inside the fragment"),
        ("http://127.0.0.1:PORT?@evil.example/", "userinfo look-alike inside the query"),
        ("http://127.0.0.1:PORT/@evil.example/", "userinfo look-alike inside the path"),
        ("http://127.0.0.1:PORT/a/../b", "dot segments"),
        ("http://127.0.0.1:PORT/..%2f..%2fetc", "encoded dot segments"),
        ("http://127.0.0.1:PORT/%00", "an encoded NUL in the path"),
        ("http://127.0.0.1:PORT/?q=%0d%0aX-Injected:%201", "encoded CR LF in the query"),
        ("http://127.0.0.1:PORT/café", "non-ASCII path"),
        ("http://127.0.0.1:PORT/caf%C3%A9?é=ü", "encoded path, non-ASCII query"),
        ("http://127.0.0.1:PORT/%5c%40evil.example", "encoded backslash and @ in the path"),
    ],
)


_blocked = _cases(
    BLOCKED,
    [
        ("http://0.0.0.0:PORT/", "this host (RFC 1122)"),
        ("http://0.1.2.3/", "this network (RFC 791)"),
        ("http://10.0.0.1/", "private-use (RFC 1918)"),
        ("http://100.64.0.1/", "shared address space (RFC 6598)"),
        ("http://100.100.100.200/latest/meta-data/", "Alibaba Cloud metadata"),
        ("http://169.254.169.254/latest/meta-data/", "AWS, GCP, Azure metadata"),
        ("http://169.254.169.254/computeMetadata/v1/", "GCP metadata path"),
        ("http://169.254.170.2/v2/credentials", "ECS task credentials"),
        ("http://172.16.0.1/", "private-use"),
        ("http://192.0.0.1/", "IETF protocol assignments (RFC 6890)"),
        ("http://192.0.0.170/", "NAT64 discovery (RFC 8880)"),
        ("http://192.0.0.192/opc/v1/instance/", "Oracle Cloud metadata"),
        ("http://192.0.2.1/", "TEST-NET-1 (RFC 5737)"),
        ("http://192.88.99.1/", "6to4 relay anycast (RFC 7526)"),
        ("http://192.168.0.1/", "private-use"),
        ("http://198.18.0.1/", "benchmarking (RFC 2544)"),
        ("http://198.51.100.1/", "TEST-NET-2"),
        ("http://203.0.113.1/", "TEST-NET-3"),
        ("http://224.0.0.1/", "multicast (RFC 5771)"),
        ("http://239.255.255.250/", "SSDP multicast"),
        ("http://240.0.0.1/", "reserved (RFC 1112)"),
        ("http://[::]:PORT/", "IPv6 unspecified"),
        ("http://[::1]:PORT/", "IPv6 loopback"),
        ("http://[0:0:0:0:0:0:0:1]:PORT/", "IPv6 loopback, long form"),
        ("http://[::0001]:PORT/", "IPv6 loopback, zero-padded"),
        ("http://[::ffff:127.0.0.1]:PORT/", "IPv4-mapped loopback"),
        ("http://[::ffff:7f00:1]:PORT/", "IPv4-mapped loopback, hex"),
        ("http://[0:0:0:0:0:ffff:127.0.0.1]:PORT/", "IPv4-mapped, long form"),
        ("http://[::ffff:169.254.169.254]/", "IPv4-mapped metadata"),
        ("http://[::ffff:8.8.8.8]/", "IPv4-mapped public (the whole range is refused)"),
        ("http://[::127.0.0.1]:PORT/", "IPv4-compatible loopback"),
        ("http://[::7f00:1]:PORT/", "IPv4-compatible loopback, hex"),
        ("http://[::10.0.0.1]/", "IPv4-compatible private"),
        ("http://[::ffff:0:127.0.0.1]/", "IPv4-translated (RFC 2765)"),
        ("http://[64:ff9b::127.0.0.1]:PORT/", "NAT64 of loopback"),
        ("http://[64:ff9b::7f00:1]:PORT/", "NAT64 of loopback, hex"),
        ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 of metadata"),
        ("http://[64:ff9b::10.0.0.1]/", "NAT64 of private-use"),
        ("http://[64:ff9b:1::8.8.8.8]/", "local-use NAT64 (RFC 8215), even of a public address"),
        ("http://[2002:7f00:1::]:PORT/", "6to4 of loopback"),
        ("http://[2002:a9fe:a9fe::1]/", "6to4 of metadata"),
        ("http://[2002:c0a8:101::1]/", "6to4 of private-use"),
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo of 127.0.0.1"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo (RFC 4380)"),
        ("http://[2001:2::1]/", "IPv6 benchmarking (RFC 5180)"),
        ("http://[2001:10::1]/", "ORCHID (RFC 4843)"),
        ("http://[2001:db8::1]/", "IPv6 documentation (RFC 3849)"),
        ("http://[3fff::1]/", "IPv6 documentation (RFC 9637)"),
        ("http://[5f00::1]/", "segment routing SIDs (RFC 9602)"),
        ("http://[100::1]/", "discard-only (RFC 6666)"),
        ("http://[fc00::1]/", "unique local (RFC 4193)"),
        ("http://[fd00:ec2::254]/", "AWS metadata over IPv6"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[febf::1]/", "link-local, top"),
        ("http://[fec0::1]/", "site-local (RFC 3879)"),
        ("http://[feff::1]/", "site-local, top"),
        ("http://[ff02::1]/", "multicast"),
        ("http://[4000::1]/", "outside global unicast 2000::/3"),
        ("http://metadata.google.internal/computeMetadata/v1/", "a metadata name"),
        ("http://instance-data/latest/", "another metadata name"),
        ("http://internal.test/", "a name answering private-use"),
        ("http://cgnat.test/", "a name answering shared address space"),
        ("http://mixed.test/", "a name answering public and private"),
        ("http://v6loop.test:PORT/", "a name answering ::1"),
        ("http://mapped.test:PORT/", "a name answering IPv4-mapped loopback"),
        ("http://nat64.test:PORT/", "a name answering NAT64 of loopback"),
        ("http://sitelocal.test/", "a name answering site-local"),
        ("http://ula.test/", "a name answering unique local"),
        ("http://zero.test:PORT/", "a name answering 0.0.0.0"),
    ],
)

_public = _cases(
    PUBLIC,
    [
        ("https://example.com/my-callback", "the document's example"),
        ("http://example.com/", "plain"),
        ("https://EXAMPLE.com:8443/a?b=c", "upper case, a port"),
        ("https://api.example.com./hook", "trailing dot"),
        ("http://example.com#frag", "a fragment"),
        ("http://example.com/path%20encoded", "an encoded path"),
        ("http://127.0.0.1.example.com/", "an address-like prefix of a name"),
        ("http://0x7f000001.example/", "a hex-like first label"),
        ("http://exa_mple.com/", "an underscore"),
        ("http://bücher.example/", "an IDN"),
        ("http://xn--bcher-kva.example/", "an A-label"),
        ("http://93.184.215.14/", "a public address"),
        ("http://93.184.215.14:8080/x", "a public address and port"),
        ("http://1.1.1.1/", "another"),
        ("http://[2606:4700:4700::1111]/", "a public IPv6 address"),
        ("http://[2001:4860:4860::8888]:443/", "with a port"),
        ("http://[2a00:1450::1]/", "another"),
        ("http://[64:ff9b::808:808]/", "NAT64 of a public address"),
        ("http://[2002:808:808::1]/", "6to4 of a public address"),
    ],
)

# The first and last address of refused IPv4 ranges, and the public neighbours on each side.
_EDGES = [ipaddress.ip_network(cidr) for cidr in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)]  # fmt: skip


def _edge_cases() -> list[Case]:
    cases = []
    for net in _EDGES:
        cases += [Case(BLOCKED, f"http://{net[0]}/", f"first of {net}"),
                  Case(BLOCKED, f"http://{net[-1]}/", f"last of {net}")]  # fmt: skip
        for end, step in ((net[0], -1), (net[-1], 1)):
            with contextlib.suppress(ipaddress.AddressValueError):
                near = end + step
                if not any(near in other for other in _EDGES):
                    cases.append(Case(PUBLIC, f"http://{near}/", f"next to {net}"))
    return cases


CORPUS: list[Case] = (
    _edge_cases()
    + _loopback
    + _cases(MALFORMED, refused.NUMERIC)
    + _cases(MALFORMED, refused.PARSER_CONFUSION)
    + _cases(MALFORMED, refused.BRACKETS_AND_PORTS)
    + _cases(MALFORMED, refused.SCHEMES_AND_SHAPES)
    + _blocked
    + _public
)


def spelled(case: Case, port: int) -> str:
    return case.url.replace("PORT", str(port))

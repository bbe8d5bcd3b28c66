"""Which network addresses the service may call: public ones, plus the operator's allowlist.

Outbound calls (webhook callbacks, HTTP task classes) go to user-supplied URLs, so a URL that points
at loopback, a private network or a cloud metadata address would let a user reach inside our
network (SSRF). Every resolved address is classified here; numeric host spellings such as
``2130706433``, ``0x7f000001`` or ``127.1`` are normalised by the resolver first, so they are
classified as the loopback address they are.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.errors import InvalidSchedule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class UnsafeTarget(InvalidSchedule):
    """A target URL is not http(s), or its host is (or resolves to) a forbidden address."""


@dataclass(frozen=True)
class Target:
    """A URL that passed the rules: its scheme, host and port, and the addresses it resolved to.

    ``addresses`` are all allowed, in the resolver's order. Connect to these and only these: a
    second lookup at connect time could answer differently (DNS rebinding).
    """

    scheme: str
    host: str  # as ``urlsplit`` gives it: lower case, an IPv6 literal without brackets
    port: int
    addresses: tuple[IPAddress, ...]


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be called, or None if it is a public unicast address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = blocked_reason(embedded)
        return f"{reason} (wrapped in IPv6)" if reason else None
    checks = (
        # most specific first: Python also counts loopback and link-local as "private"
        ("loopback", address.is_loopback),
        ("link-local (metadata)", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("carrier-grade NAT", address.version == 4 and address in _CGNAT),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address."""
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def allowed(address: IPAddress, allowlist: Iterable[str]) -> bool:
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in allowlist)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (the OS resolver also parses numeric spellings)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"url: host {host!r} does not resolve ({exc})") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_url(
    url: str, allowlist: Iterable[str], *, unresolvable_ok: bool = False
) -> list[IPAddress]:
    """Refuse a URL that is not http(s) or whose host resolves to a forbidden address.

    Returns the resolved addresses. ``unresolvable_ok`` accepts a host that does not resolve yet
    (at create time a domain may not be live; the check at connect time still applies) and
    returns no addresses for it.
    """
    return list(check_target(url, allowlist, unresolvable_ok=unresolvable_ok).addresses)


def check_target(url: str, allowlist: Iterable[str], *, unresolvable_ok: bool = False) -> Target:
    """``check_url``, returning the parsed target too, so a caller can connect to exactly the
    addresses that were checked (pinning them defeats DNS rebinding) without parsing again."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget(f"url: {url!r} must be an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTarget(f"url: {url!r} has an invalid port") from exc
    try:
        addresses = resolve(parts.hostname, port)
    except UnsafeTarget:
        if unresolvable_ok:
            return Target(parts.scheme, parts.hostname, port, ())
        raise
    allow = list(allowlist)
    for address in addresses:
        reason = blocked_reason(address)
        if reason and not allowed(address, allow):
            raise UnsafeTarget(
                f"url: host {parts.hostname!r} resolves to {address}, a {reason} address; "
                "callbacks to it are refused (an operator may allow it with "
                "SCHEDULER_TARGET_ALLOWLIST)"
            )
    # one entry per address, first occurrence kept (getaddrinfo may repeat one per protocol)
    return Target(parts.scheme, parts.hostname, port, tuple(dict.fromkeys(addresses)))

"""Which URLs the service may call, and at which addresses: one reading of the URL, public
addresses only, plus the operator's allowlist.

Outbound calls (webhook callbacks, the push gateway, HTTP task classes) go to URLs that users and
operators give, so a URL that reaches loopback, a private network or a cloud metadata address
would let them reach inside our network (SSRF). Two rules close it:

- **One reading.** ``read_url`` parses a URL once, with the parser the HTTP client uses
  (urllib3's ``parse_url``, which requests calls), and refuses anything that ``urllib.parse``
  or requests' own preparation reads differently, anything with user info, backslashes,
  whitespace, control or invisible characters, a percent-encoded or malformed host, an odd port,
  or a numeric host in any spelling but dotted decimal (``2130706433``, ``0x7f.1``, ``0177.0.0.1``
  and ``127.1`` are loopback to the OS resolver). The caller connects to the host, port and path
  of that one reading, at addresses resolved once (see workers/http.py).
- **Public addresses only.** Every address the host is or resolves to must be outside every
  range in ``SPECIAL_PURPOSE`` (the IANA special-purpose registries, written out below rather
  than left to Python's ``is_global``, whose answers changed across versions), unless it is in
  ``SCHEDULER_TARGET_ALLOWLIST``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3.util
from urllib3.exceptions import LocationParseError

from shared.address_ranges import SPECIAL_PURPOSE
from shared.errors import InvalidSchedule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_CHARS = 2048
SCHEMES = {"http": 80, "https": 443}

_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052; globally reachable per the registry
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_6TO4 = ipaddress.ip_network("2002::/16")  # RFC 3056
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")  # what a URL parser reads as a number
_PORT = re.compile(r"[1-9][0-9]{0,4}")
# A path and query that every parser reads the same, and sends as written, whatever the origin:
# urllib3's path and query characters, less '%' (it re-encodes a stray one), '@' and anything
# that ends the authority or starts a fragment; "/." (a dot segment, removed) is checked apart.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:/?-]*")
# Control, format (zero-width, bidi, soft hyphen), surrogate, private-use, unassigned characters
# and every kind of space: parsers drop, keep or map these differently.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


class UnsafeTarget(InvalidSchedule):
    """A target URL is not a plain http(s) URL, or its host is (or resolves to) a refused
    address. The message starts with the field's name (``url: ...``)."""


class Unresolvable(UnsafeTarget):
    """The host does not resolve (now: DNS may answer later)."""


@dataclass(frozen=True)
class ParsedUrl:
    """The one reading of a URL: connect to ``host`` (or its pinned addresses) and ``port``,
    and send ``request_uri``."""

    scheme: str
    host: str  # lower case; an A-label name, a dotted-quad IPv4, or an IPv6 without brackets
    port: int
    request_uri: str  # path and query, as the HTTP client sends them
    ip: IPAddress | None  # the address, when the host is one

    @property
    def host_header(self) -> str:
        """``Host`` as the client would send it: brackets for IPv6, the port if not default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"

    def url_at(self, address: IPAddress) -> str:
        """This URL with its host replaced by ``address`` (pinned), nothing else changed."""
        ip = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{ip}:{self.port}{self.request_uri}"


@dataclass(frozen=True)
class Target:
    """A URL that passed the rules, and the addresses it resolved to.

    ``addresses`` are all allowed, in the resolver's order. Connect to these and only these: a
    second lookup at connect time could answer differently (DNS rebinding).
    """

    url: ParsedUrl
    addresses: tuple[IPAddress, ...]


# --- one reading of the URL ----------------------------------------------------------------


def read_url(url: object, field: str = "url") -> ParsedUrl:
    """The URL's one reading, or ``UnsafeTarget`` saying what is wrong with it. Readings are
    remembered (a worker reads the same callback URLs over and over), and so are those of each
    origin: a URL whose path and query are plain is read as its origin's reading with that path
    (one-off jobs' URLs often differ only there, and each is read once per fire)."""
    if not isinstance(url, str) or not url:
        raise UnsafeTarget(f"{field}: must be an http:// or https:// URL")
    return _read_plain(url, field) or _read(url, field)


def _read_plain(url: str, field: str) -> ParsedUrl | None:
    """The reading of ``url`` from its origin's, if its path and query are plain (see
    ``_PLAIN_PATH``); None if not, or if the origin is refused (the whole URL's reading then
    says why, naming it)."""
    authority = url.find("://") + 3
    path = url.find("/", authority) if authority > 2 and len(url) <= MAX_URL_CHARS else -1
    if path < 0 or "/." in url[path:] or not _PLAIN_PATH.fullmatch(url, path):
        return None
    origin = url[:path]
    if "?" in origin or "#" in origin:
        return None
    try:
        reading = _read(origin + "/", field)
    except UnsafeTarget:
        return None
    return ParsedUrl(reading.scheme, reading.host, reading.port, url[path:], reading.ip)


@functools.lru_cache(maxsize=4096)
def _read(url: str, field: str) -> ParsedUrl:
    shown = repr(url if len(url) <= 200 else url[:200] + "...")
    if len(url) > MAX_URL_CHARS:
        raise UnsafeTarget(f"{field}: {shown} is longer than {MAX_URL_CHARS} characters")
    _refuse_odd_characters(url, field, shown)
    try:
        parts = urllib3.util.parse_url(url)
        split = urlsplit(url)
    except (LocationParseError, ValueError) as exc:
        raise UnsafeTarget(f"{field}: {shown} is not a valid URL ({exc})") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in SCHEMES or split.scheme != scheme or not split.netloc:
        raise UnsafeTarget(f"{field}: {shown} must be an http:// or https:// URL with a host")
    if "@" in split.netloc or parts.auth is not None:
        raise UnsafeTarget(f"{field}: {shown} has user info (user@ or user:password@); "
                           "credentials do not belong in the URL")  # fmt: skip
    raw_host, port = _host_and_port(split.netloc, scheme, field, shown)
    host, ip = _canonical_host(raw_host, parts.host, field, shown)
    reading = ParsedUrl(scheme, host, port, parts.request_uri, ip)
    _same_for_requests(url, reading, field, shown)
    return reading


def _refuse_odd_characters(url: str, field: str, shown: str) -> None:
    for position, char in enumerate(url):
        if char == "\\" or unicodedata.category(char) in _REFUSED_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            raise UnsafeTarget(
                f"{field}: {shown} contains U+{ord(char):04X} ({name.lower()}) at position "
                f"{position}; spaces, backslashes, control and invisible characters are refused"
            )


def _host_and_port(netloc: str, scheme: str, field: str, shown: str) -> tuple[str, int]:
    """The raw host and the port of an authority (one without user info)."""
    if netloc.startswith("["):
        end = netloc.find("]") + 1  # urlsplit made sure there is one
        host, rest = netloc[:end], netloc[end:]
    else:
        host, colon, digits = netloc.partition(":")
        rest = colon + digits
    if not host:
        raise UnsafeTarget(f"{field}: {shown} must be an http:// or https:// URL with a host")
    if not rest:
        return host, SCHEMES[scheme]
    digits = rest[1:]
    if not rest.startswith(":") or not _PORT.fullmatch(digits) or int(digits) > 65535:
        raise UnsafeTarget(
            f"{field}: {shown} has an invalid port part {rest!r} (':' and a port 1-65535 in "
            "plain digits, no leading zero)"
        )
    return host, int(digits)


def _canonical_host(
    raw: str, urllib3_host: str | None, field: str, shown: str
) -> tuple[str, IPAddress | None]:
    """The host both parsers agree on: an IP address, or a name in A-labels."""
    if raw.startswith("["):
        ip = _bracketed_ipv6(raw, urllib3_host, field, shown)
        return str(ip), ip
    if "%" in raw:
        raise UnsafeTarget(f"{field}: {shown} has a percent-encoded host; write it plainly")
    if any(unicodedata.category(c) == "Nd" for c in raw if not c.isascii()):
        raise UnsafeTarget(f"{field}: {shown} has digits of another script in its host")
    if raw.isascii():
        host = raw.lower()
    else:  # an IDN: urllib3 writes it in IDNA 2008 A-labels; Python's codec uses IDNA 2003
        try:
            host = raw.lower().encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeTarget(f"{field}: {shown} has an invalid international name") from None
    if host != urllib3_host:
        raise _two_readings(field, shown)
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return _dotted_quad(host, field, shown)
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeTarget(
            f"{field}: {shown} has an invalid host name {host!r} (letters, digits, '-' and '_' "
            "in dot-separated labels of 1-63 characters)"
        )
    return host, None


def _bracketed_ipv6(
    raw: str, urllib3_host: str | None, field: str, shown: str
) -> ipaddress.IPv6Address:
    """The IPv6 address in ``[...]``, which urllib3 must read the same."""
    try:
        if "%" in raw:
            raise ValueError("zone ids are refused")
        ip = ipaddress.IPv6Address(raw[1:-1])  # refuses IPv4 in brackets, IPvFuture
    except ValueError:
        raise UnsafeTarget(f"{field}: {shown} has an invalid IPv6 address {raw}") from None
    if urllib3_host is None or ipaddress.ip_address(urllib3_host.strip("[]")) != ip:
        raise _two_readings(field, shown)
    return ip


def _dotted_quad(host: str, field: str, shown: str) -> tuple[str, IPAddress]:
    """A host a URL parser reads as a number must be a plain dotted-quad IPv4 address: the OS
    resolver turns 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 into 127.0.0.1."""
    try:
        ip = ipaddress.IPv4Address(host)  # refuses leading zeros, hex, short forms, a last dot
    except ValueError:
        raise UnsafeTarget(
            f"{field}: {shown} writes its host {host!r} as a number in a form other than "
            "dotted decimal (a.b.c.d); such spellings are refused"
        ) from None
    return str(ip), ip


def _same_for_requests(url: str, reading: ParsedUrl, field: str, shown: str) -> None:
    """requests prepares a URL itself before urllib3 sees it (IDNA, quoting): that reading must
    give the same host and port too."""
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
        parts = urllib3.util.parse_url(prepared.url or "")
    except (requests.RequestException, LocationParseError, ValueError) as exc:
        raise UnsafeTarget(f"{field}: {shown} is not a valid URL ({exc})") from None
    host = (parts.host or "").strip("[]")
    if reading.ip is not None:
        same_host = _is_address(host) and ipaddress.ip_address(host) == reading.ip
    else:
        same_host = host == reading.host
    if not same_host or (parts.port or SCHEMES.get(parts.scheme or "")) != reading.port:
        raise _two_readings(field, shown)


def _two_readings(field: str, shown: str) -> UnsafeTarget:
    return UnsafeTarget(f"{field}: {shown} is read differently by different URL parsers")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- addresses -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be called, or None if it is globally reachable unicast
    (remembered: a worker checks the same few addresses at every fire)."""
    inner = _embedded_ipv4(address)  # only IPv6 addresses embed one
    if inner is not None and address.version == 6 and (address in _NAT64 or address in _6TO4):
        reason = blocked_reason(inner)
        return f"{reason}, embedded as {inner} in {_prefix_of(address)}" if reason else None
    matches = [(net, name, rfc) for net, name, rfc in SPECIAL_PURPOSE if address in net]
    if matches:
        net, name, rfc = max(matches, key=lambda match: match[0].prefixlen)
        embedded = f", embedding {inner}" if inner is not None else ""
        return f"{name} ({net}, {rfc}){embedded}"
    if address.version == 6 and address not in _GLOBAL_UNICAST:
        return "not global unicast (outside 2000::/3, RFC 4291)"
    if not address.is_global:  # a belt: never looser than the table, whatever the version
        return "not globally reachable"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped or -compatible, NAT64, 6to4 or Teredo address."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def _prefix_of(address: ipaddress.IPv6Address) -> str:
    return "NAT64 64:ff9b::/96 (RFC 6052)" if address in _NAT64 else "6to4 2002::/16 (RFC 3056)"


def allowed(address: IPAddress, allowlist: Iterable[str]) -> bool:
    return _allowed(address, tuple(allowlist))


@functools.lru_cache(maxsize=4096)  # the same few addresses and one allowlist, at every fire
def _allowed(address: IPAddress, allowlist: tuple[str, ...]) -> bool:
    return any(address in _network(cidr) for cidr in allowlist)


@functools.lru_cache(maxsize=256)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def resolve(host: str, port: int, field: str = "url") -> list[IPAddress]:
    """Every address ``host`` (an A-label name) resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{field}: host {host!r} does not resolve ({exc})") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


# --- the check -----------------------------------------------------------------------------


def check_url(
    url: str, allowlist: Iterable[str], *, unresolvable_ok: bool = False, field: str = "url"
) -> list[IPAddress]:
    """Refuse a URL that is not a plain http(s) URL or whose host is or resolves to a refused
    address. Returns the resolved addresses. ``unresolvable_ok`` accepts a host that does not
    resolve yet (at create time a domain may not be live; the check at connect time still
    applies) and returns no addresses for it."""
    target = check_target(url, allowlist, unresolvable_ok=unresolvable_ok, field=field)
    return list(target.addresses)


def check_target(
    url: str, allowlist: Iterable[str], *, unresolvable_ok: bool = False, field: str = "url"
) -> Target:
    """``check_url``, returning the one reading too, so a caller connects to exactly the
    addresses that were checked (pinning them defeats DNS rebinding) without parsing again."""
    reading = read_url(url, field)
    if reading.ip is not None:
        addresses = [reading.ip]
    else:
        try:
            addresses = resolve(reading.host, reading.port, field)
        except Unresolvable:
            if unresolvable_ok:
                return Target(reading, ())
            raise
    allow = tuple(allowlist)
    for address in addresses:
        reason = blocked_reason(address)
        if reason and not allowed(address, allow):
            subject = str(address)
            if not reading.ip:
                subject = f"host {reading.host!r} resolves to {address}, which"
            raise UnsafeTarget(
                f"{field}: {subject} is in a refused range: {reason}; calls to this "
                "address are refused (an operator may allow it with SCHEDULER_TARGET_ALLOWLIST)"
            )
    # one entry per address, first occurrence kept (getaddrinfo may repeat one per protocol)
    return Target(reading, tuple(dict.fromkeys(addresses)))

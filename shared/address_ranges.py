"""The address ranges outbound calls may not reach unless the operator allows them
(``shared.netguard`` applies them), each with the RFC that sets it apart."""

from __future__ import annotations

import ipaddress

# Ranges that are refused, with the RFC that sets each apart. The most specific match names the
# reason. IPv4: the IANA IPv4 Special-Purpose Address Registry's rows that are not globally
# reachable, plus multicast. Refused although the registry marks them globally reachable, since
# no web server lives there: the rest of 192.0.0.0/24 (PCP and TURN anycast, RFC 7723, 8155)
# and the deprecated 6to4 relay anycast. Allowed because they are: AS112 (192.31.196.0/24,
# 192.175.48.0/24) and AMT (192.52.193.0/24).
_V4 = [
    ("0.0.0.0/8", "'this network'", "RFC 791"),
    ("10.0.0.0/8", "private-use", "RFC 1918"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)", "RFC 6598"),
    ("127.0.0.0/8", "loopback", "RFC 1122"),
    ("169.254.0.0/16", "link-local (cloud metadata)", "RFC 3927"),
    ("172.16.0.0/12", "private-use", "RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments", "RFC 6890"),
    ("192.0.0.0/29", "IPv4 service continuity", "RFC 7335"),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    ("192.0.0.170/31", "NAT64/DNS64 discovery", "RFC 8880"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast", "RFC 7526"),
    ("192.168.0.0/16", "private-use", "RFC 1918"),
    ("198.18.0.0/15", "benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    ("224.0.0.0/4", "multicast", "RFC 5771"),
    ("240.0.0.0/4", "reserved", "RFC 1112"),
    ("255.255.255.255/32", "limited broadcast", "RFC 919"),
]
# IPv6: the IANA IPv6 Special-Purpose Address Registry's rows that are not globally reachable,
# the deprecated site-local range, multicast, and everything outside global unicast 2000::/3
# (except the NAT64 prefix, judged by the IPv4 address inside it, like 6to4). All of 2001::/23 is
# refused: its globally reachable rows (PCP/TURN anycast, AMT, AS112, ORCHIDv2, DRIP) are not
# web servers either.
_V6 = [
    ("::/128", "unspecified", "RFC 4291"),
    ("::1/128", "loopback", "RFC 4291"),
    ("::/8", "reserved by the IETF", "RFC 4291"),
    ("::/96", "IPv4-compatible (deprecated)", "RFC 4291"),
    ("::ffff:0:0/96", "IPv4-mapped", "RFC 4291"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", "RFC 8215"),
    ("100::/64", "discard-only", "RFC 6666"),
    ("100:0:0:1::/64", "dummy prefix", "RFC 9780"),
    ("2001::/23", "IETF protocol assignments", "RFC 2928"),
    ("2001::/32", "Teredo", "RFC 4380"),
    ("2001:2::/48", "benchmarking", "RFC 5180"),
    ("2001:10::/28", "deprecated ORCHID", "RFC 4843"),
    ("2001:db8::/32", "documentation", "RFC 3849"),
    ("3fff::/20", "documentation", "RFC 9637"),
    ("5f00::/16", "segment routing SIDs", "RFC 9602"),
    ("fc00::/7", "unique local", "RFC 4193"),
    ("fe80::/10", "link-local", "RFC 4291"),
    ("fec0::/10", "site-local (deprecated)", "RFC 3879"),
    ("ff00::/8", "multicast", "RFC 4291"),
]
SPECIAL_PURPOSE = [(ipaddress.ip_network(cidr), name, rfc) for cidr, name, rfc in _V4 + _V6]

"""This machine's own network addresses, found without sending a packet.

``agent-relay-server init`` puts them in ``allowed_hosts``, so clients that reach the relay by
IP address (the usual case on a LAN without local DNS) are not turned away with 421.

- Linux: every interface's IPv4 address (``SIOCGIFADDR``) and IPv6 addresses from
  ``/proc/net/if_inet6``.
- Anywhere: the source address the routing table picks for an outside destination; connecting
  a UDP socket only consults the routing table and sends nothing.

Loopback, link-local (they need a zone id in URLs) and unspecified addresses are left out.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from pathlib import Path
from typing import Final

SIOCGIFADDR: Final = 0x8915
IF_INET6: Final = Path("/proc/net/if_inet6")
ROUTE_PROBES: Final = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))
"""Documentation addresses (RFC 5737, RFC 3849): never reached, only routed."""


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def _linux_ipv4() -> set[str]:
    import fcntl  # POSIX only

    found: set[str] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            found.add(socket.inet_ntoa(answer[20:24]))
    return found


def _linux_ipv6() -> set[str]:
    found: set[str] = set()
    try:
        lines = IF_INET6.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        raw = line.split()[0]
        if len(raw) == 32:
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    return found


def _routed() -> set[str]:
    found: set[str] = set()
    for family, probe in ROUTE_PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                found.add(sock.getsockname()[0])
        except OSError:  # no route for this family
            continue
    return found


def local_addresses() -> list[str]:
    """The machine's non-loopback, non-link-local IP addresses, IPv4 first, sorted."""
    found = _routed()
    if sys.platform.startswith("linux"):
        found |= _linux_ipv4() | _linux_ipv6()
    usable = [ipaddress.ip_address(a) for a in found if _usable(a)]
    return [str(ip) for ip in sorted(usable, key=lambda ip: (ip.version, ip))]

"""Announcing the relay on the LAN with mDNS/DNS-SD, so ``agent-relay onboard --discover`` finds it.

``serve`` registers one ``_agent-relay._tcp`` service (python-zeroconf) for the address and port
it listens on, with its version, auth mode and whether it speaks HTTPS in the TXT record (and
the start of its CA's fingerprint, for the person to compare: an announcement proves nothing,
anyone on the LAN can send one). A relay listening on loopback only is not announced (no other
machine could reach it); ``announce = false`` or ``serve --no-announce`` turns it off.
"""

from __future__ import annotations

import logging
import socket
from typing import Final

from zeroconf import IPVersion, ServiceInfo, Zeroconf

from relay_server import __version__
from relay_server.config import ServerConfig, is_loopback
from relay_server.local_addresses import local_addresses

SERVICE_TYPE: Final = "_agent-relay._tcp.local."
log = logging.getLogger(__name__)


def announced_addresses(config: ServerConfig) -> list[str]:
    """The addresses to announce: the one the relay listens on, or all of this machine's."""
    if config.host in {"0.0.0.0", "::", ""}:
        return local_addresses()
    return [config.host]


def service_info(config: ServerConfig, port: int, fingerprint: str | None) -> ServiceInfo:
    """The DNS-SD record of this relay."""
    hostname = socket.gethostname().split(".")[0]
    properties = {
        "version": __version__,
        "auth": config.effective_auth_mode,
        "tls": "1" if config.tls else "0",
        **({"fp": fingerprint} if fingerprint else {}),
    }
    return ServiceInfo(
        SERVICE_TYPE,
        f"agent-relay on {hostname}.{SERVICE_TYPE}",
        port=port,
        properties=properties,
        server=f"{hostname}.local.",
        parsed_addresses=announced_addresses(config),
    )


class Announcement:
    """The relay's DNS-SD service, registered until :meth:`close`."""

    def __init__(self, info: ServiceInfo, interfaces: list[str]) -> None:
        self.info = info
        self.zeroconf = Zeroconf(interfaces=interfaces, ip_version=IPVersion.All)
        self.zeroconf.register_service(info, allow_name_change=True)
        log.info("announced as %r on the LAN (mDNS)", info.name)

    def close(self) -> None:
        """Withdraw the announcement."""
        try:
            self.zeroconf.unregister_service(self.info)
        finally:
            self.zeroconf.close()


def announce(config: ServerConfig, port: int, fingerprint: str | None) -> Announcement | None:
    """Announce the relay, unless it is off or listens on loopback only; None then, or when
    multicast is not possible here (logged: the relay serves all the same)."""
    if not config.announce or is_loopback(config.host):
        return None
    addresses = announced_addresses(config)
    if not addresses:
        return None
    try:
        return Announcement(service_info(config, port, fingerprint), addresses)
    except OSError as exc:
        log.warning("could not announce the relay on the LAN (mDNS): %s", exc)
        return None

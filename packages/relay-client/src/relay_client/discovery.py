"""Finding relays on the LAN: the ``_agent-relay._tcp`` services they announce over mDNS.

``agent-relay onboard --discover`` browses for a few seconds (python-zeroconf) and lists what
answered: its URL, version, auth mode and, for an HTTPS relay, the start of its CA's fingerprint.
An announcement is only a hint (anyone on the LAN can send one): the relay's certificate is
still pinned by a join code's fingerprint or by the person confirming it.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Final

from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

SERVICE_TYPE: Final = "_agent-relay._tcp.local."
DEFAULT_BROWSE_S: Final = 3.0
INFO_TIMEOUT_MS: Final = 1500


@dataclass(frozen=True)
class FoundRelay:
    """One relay that announced itself."""

    name: str
    relay_url: str
    version: str
    auth_mode: str
    fingerprint: str | None


def _text(properties: dict[bytes, bytes | None], key: str) -> str:
    value = properties.get(key.encode())
    return value.decode("utf-8", "replace") if value else ""


def _url(addresses: list[str], port: int, tls: bool) -> str | None:
    usable = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_link_local]
    if not usable:
        return None
    usable.sort(key=lambda a: ":" in a)  # IPv4 first
    host = f"[{usable[0]}]" if ":" in usable[0] else usable[0]
    return f"{'https' if tls else 'http'}://{host}:{port}"


def discover(browse_s: float = DEFAULT_BROWSE_S) -> list[FoundRelay]:
    """The relays that answered within ``browse_s`` seconds, by name."""
    names: set[str] = set()
    lock = threading.Lock()

    def seen(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed:
            with lock:
                names.add(name)

    zeroconf = Zeroconf()
    try:
        browser = ServiceBrowser(zeroconf, SERVICE_TYPE, handlers=[seen])
        time.sleep(browse_s)
        browser.cancel()
        with lock:
            found_names = sorted(names)
        found = []
        for name in found_names:
            info = zeroconf.get_service_info(SERVICE_TYPE, name, timeout=INFO_TIMEOUT_MS)
            if info is None or info.port is None:
                continue
            properties = info.properties
            url = _url(info.parsed_addresses(), info.port, _text(properties, "tls") == "1")
            if url is None:
                continue
            found.append(
                FoundRelay(
                    name=name.removesuffix("." + SERVICE_TYPE),
                    relay_url=url,
                    version=_text(properties, "version"),
                    auth_mode=_text(properties, "auth"),
                    fingerprint=_text(properties, "fp") or None,
                )
            )
        return found
    finally:
        zeroconf.close()

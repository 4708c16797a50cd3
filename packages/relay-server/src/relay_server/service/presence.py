"""Presence: whether a client is live, online or offline right now.

A client is *live* while it holds an open MCP stream to this relay (one the relay can push to),
*online* when it called the relay within :data:`ONLINE_WINDOW_S`, else *offline*. The service
does not know MCP: the adapter that does hands it a connection source (``McpSessions`` fits)
with :meth:`~relay_server.service.base.ServiceBase.attach_connections`. The web view,
``list_peers`` and a send's answer (which names the recipients that are offline) all ask here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from relay_core import Peer, from_ms, now_ms
from relay_core.models import Presence
from relay_server.service.base import ServiceBase
from relay_server.service.clients import ClientsFeature

ONLINE_WINDOW_S: Final = 60.0
"""A client seen within this many seconds is online."""


class PresenceFeature(ClientsFeature):
    """Who is live, online or offline; peers with their presence."""

    def list_peers(self, caller: str) -> list[Peer]:
        """Every other client the relay knows, with the sessions the caller shares with it and
        whether it is live, online or offline."""
        judge = presence_judge(self)
        return [
            peer.model_copy(update={"presence": judge(peer.client_id, peer.last_seen)})
            for peer in super().list_peers(caller)
        ]


def presence_judge(service: ServiceBase) -> PresenceJudge:
    """A judge of presence as of now: the service's live connections and the online window."""
    return PresenceJudge(
        service.live_clients(), from_ms(now_ms()) - timedelta(seconds=ONLINE_WINDOW_S)
    )


def offline_among(service: ServiceBase, client_ids: Iterable[str]) -> list[str]:
    """Those of ``client_ids`` that are offline now, sorted (a query only for those this
    process has not seen lately: see :mod:`.last_seen`)."""
    judge = presence_judge(service)
    recent_ms = now_ms() - round(ONLINE_WINDOW_S * 1000)
    seen = service.last_seen.since(client_ids, recent_ms)
    return sorted(c for c, ms in seen.items() if judge(c, from_ms(ms) if ms else None) == "offline")


class PresenceJudge:
    """Tells a client's presence from the live set and the start of the online window."""

    def __init__(self, live: frozenset[str], online_since: datetime) -> None:
        self.live, self.online_since = live, online_since

    def __call__(self, client_id: str, last_seen: datetime | None) -> Presence:
        if client_id in self.live:
            return "live"
        if last_seen is not None and last_seen >= self.online_since:
            return "online"
        return "offline"

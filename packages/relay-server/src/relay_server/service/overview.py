"""What the web view shows at a glance: a caller's sessions, who is live, online or offline.

A participant is *live* while it holds an open MCP connection to this relay (a stream the relay
can push to), *online* when it called the relay within :data:`ONLINE_WINDOW_S`, else *offline*.
The service does not know MCP: the adapter that does hands it a :class:`ConnectionSource`
(``McpSessions`` fits) with :meth:`OverviewFeature.attach_connections`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from pydantic import BaseModel, Field

from relay_core import SessionSummary, Status, from_ms, now_ms
from relay_server.service.clients import ClientsFeature
from relay_server.service.sessions import SessionsFeature

ONLINE_WINDOW_S: Final = 60.0
"""A participant seen within this many seconds is online."""
OVERVIEW_SESSIONS: Final = 100
"""The most sessions one overview shows (newest first)."""

Presence = Literal["live", "online", "offline"]


class OpenConnection(Protocol):
    """One open MCP connection, as its adapter tracks it."""

    @property
    def client_id(self) -> str: ...

    @property
    def streams(self) -> int: ...


class ConnectionSource(Protocol):
    """Whatever knows the relay's open MCP connections (``McpSessions``)."""

    def records(self) -> Iterable[OpenConnection]: ...


class ParticipantView(BaseModel):
    """A participant of a session, as the web view shows it."""

    client_id: str = Field(description="The participant's client id.")
    presence: Presence = Field(description="live, online or offline (see the module).")
    last_seen: datetime | None = Field(description="Its last call to the relay (UTC).")


class SessionView(BaseModel):
    """A session the caller belongs to, with its participants' presence."""

    session: SessionSummary = Field(description="The session as the caller's list shows it.")
    participants: list[ParticipantView] = Field(description="Its members.")


class Overview(BaseModel):
    """The caller's sessions and the relay's numbers."""

    viewer: str = Field(description="Whose view this is.")
    status: Status = Field(description="Version, uptime, counts and blob usage.")
    sessions: list[SessionView] = Field(description="The caller's sessions, newest first.")


class OverviewFeature(ClientsFeature, SessionsFeature):
    """The caller's sessions with presence, and the relay's numbers, in one answer."""

    _connections: ConnectionSource | None = None

    def attach_connections(self, source: ConnectionSource) -> None:
        """Learn open MCP connections from ``source`` (the app calls this once)."""
        self._connections = source

    def live_clients(self) -> frozenset[str]:
        """Clients holding an open MCP stream right now (none when no source is attached)."""
        if self._connections is None:
            return frozenset()
        return frozenset(r.client_id for r in self._connections.records() if r.streams > 0)

    def overview(self, caller: str) -> Overview:
        """The caller's newest sessions (closed ones too) with presence, and the relay status."""
        live = self.live_clients()
        online_since = from_ms(now_ms()) - timedelta(seconds=ONLINE_WINDOW_S)
        views = []
        for summary in self.list_sessions(caller, include_closed=True)[:OVERVIEW_SESSIONS]:
            detail = self.get_session(caller, summary.name)
            views.append(
                SessionView(
                    session=summary,
                    participants=[
                        ParticipantView(
                            client_id=p.client_id,
                            presence=_presence(p.client_id, p.last_seen, live, online_since),
                            last_seen=p.last_seen,
                        )
                        for p in detail.participants
                    ],
                )
            )
        return Overview(viewer=caller, status=self.status(caller), sessions=views)


def _presence(
    client_id: str, last_seen: datetime | None, live: frozenset[str], online_since: datetime
) -> Presence:
    if client_id in live:
        return "live"
    if last_seen is not None and last_seen >= online_since:
        return "online"
    return "offline"

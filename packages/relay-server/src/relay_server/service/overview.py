"""What the web view shows at a glance: a caller's sessions, who is live, online or offline
(see :mod:`.presence`), and the relay's numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pydantic import BaseModel, Field

from relay_core import SessionSummary, Status
from relay_core.models import Presence
from relay_server.service.presence import PresenceFeature, presence_judge
from relay_server.service.sessions import SessionsFeature

OVERVIEW_SESSIONS: Final = 100
"""The most sessions one overview shows (newest first)."""


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


class OverviewFeature(PresenceFeature, SessionsFeature):
    """The caller's sessions with presence, and the relay's numbers, in one answer."""

    def overview(self, caller: str) -> Overview:
        """The caller's newest sessions (closed ones too) with presence, and the relay status."""
        judge = presence_judge(self)
        views = []
        for summary in self.list_sessions(caller, include_closed=True)[:OVERVIEW_SESSIONS]:
            detail = self.get_session(caller, summary.name)
            views.append(
                SessionView(
                    session=summary,
                    participants=[
                        ParticipantView(
                            client_id=p.client_id,
                            presence=judge(p.client_id, p.last_seen),
                            last_seen=p.last_seen,
                        )
                        for p in detail.participants
                    ],
                )
            )
        return Overview(viewer=caller, status=self.status(caller), sessions=views)

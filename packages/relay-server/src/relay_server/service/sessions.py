"""Sessions: creating them, who belongs, inviting, leaving and closing."""

from __future__ import annotations

from relay_core import (
    Conflict,
    CreateSessionRequest,
    Forbidden,
    InviteRequest,
    NotFound,
    SessionDetail,
    SessionSummary,
    from_ms,
    now_ms,
)
from relay_server.service.base import ServiceBase
from relay_server.storage import clients, messages, roles, sessions


class SessionsFeature(ServiceBase):
    """Create, list, show, invite to, leave and close sessions."""

    def create_session(self, caller: str, request: CreateSessionRequest) -> SessionDetail:
        """Create a session with the caller and ``request.participants`` as members.

        Raises:
            Conflict: a session of that name exists (the error shows it).
        """
        stamp = now_ms()
        members = [caller, *(p for p in request.participants if p != caller)]
        with self.storage.transaction():
            self._refuse_unregistered(members[1:])
            existing = sessions.session_named(request.name)
            if existing is not None:
                raise Conflict(
                    f"session {request.name!r} already exists (created by "
                    f"{existing.created_by_id} at {from_ms(existing.created_ms):%Y-%m-%d %H:%M}Z)",
                    details={"session": request.name, "created_by": existing.created_by_id},
                )
            clients.ensure_clients(members, stamp)
            session_id = sessions.add_session(request.name, request.description, caller, stamp)
            sessions.add_participants(session_id, members, stamp)
        return self.get_session(caller, request.name)

    def list_sessions(self, caller: str, include_closed: bool = False) -> list[SessionSummary]:
        """The caller's sessions, newest first, with unread counts (one query)."""
        return sessions.session_summaries(caller, include_closed, self.delivery_clock())

    def get_session(self, caller: str, name: str) -> SessionDetail:
        """A session the caller belongs to, with its participants."""
        session = sessions.session_row(name)
        membership = sessions.membership(session, caller)
        now = self.delivery_clock()
        last_id, unread = messages.counts(session.id, caller, membership.last_read_id, now)
        participants = sessions.participants(session.id)
        return SessionDetail(
            name=session.name,
            description=session.description,
            created_by=session.created_by_id,
            created_at=from_ms(session.created_ms),
            closed_at=from_ms(session.closed_ms) if session.closed_ms else None,
            participants=participants,
            last_message_id=last_id,
            unread=unread,
            roles=roles.holders(session.id),
        )

    def invite(self, caller: str, name: str, request: InviteRequest) -> SessionDetail:
        """Add clients to a session the caller belongs to; existing members are left alone."""
        stamp = now_ms()
        with self.storage.transaction():
            session = sessions.open_session_row(name)
            sessions.membership(session, caller)
            self._refuse_unregistered(request.clients)
            clients.ensure_clients(request.clients, stamp)
            sessions.add_participants(session.id, request.clients, stamp, keep_existing=True)
        return self.get_session(caller, name)

    def _refuse_unregistered(self, client_ids: list[str]) -> None:
        """In per-client mode, only clients the operator registered may be added to a session.

        Raises:
            NotFound: one of ``client_ids`` holds no token (a typo, or a name nobody has).
        """
        if self.auth_mode != "per-client":
            return
        strangers = clients.unregistered(client_ids)
        if strangers:
            names = ", ".join(repr(c) for c in strangers)
            raise NotFound(
                f"no client {names} on this relay: in per-client mode only clients with a "
                "token can be added (the operator creates one with `agent-relay-server "
                f"add-client {strangers[0]}`)",
                details={"clients": strangers},
            )

    def leave(self, caller: str, name: str) -> None:
        """Remove the caller from a session."""
        with self.storage.transaction():
            session = sessions.session_row(name)
            sessions.membership(session, caller)
            sessions.remove_participant(session.id, caller)
            roles.release_all_of(session.id, caller)

    def close_session(self, caller: str, name: str) -> SessionDetail:
        """Close a session (creator only); it stays readable, but takes no new messages."""
        with self.storage.transaction():
            session = sessions.session_row(name)
            sessions.membership(session, caller)
            if session.created_by_id != caller:
                raise Forbidden(
                    f"only {session.created_by_id!r}, who created session {name!r}, may close it"
                )
            if session.closed_ms is None:
                sessions.close_session(session.id, now_ms())
        return self.get_session(caller, name)

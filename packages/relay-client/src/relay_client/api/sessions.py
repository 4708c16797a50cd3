"""Sessions: listing, creating, closing, inviting, leaving, and the roles held in one."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from relay_client.api.connection import Connection, body_of
from relay_core import CreateSessionRequest, InviteRequest, SessionDetail, SessionSummary, wire
from relay_core.models import RoleClaim


class SessionsMixin(Connection):
    """``/api/v1/sessions`` and a session's ``roles``."""

    def list_sessions(self, *, include_closed: bool = False) -> list[SessionSummary]:
        """Our sessions, newest activity first as the relay orders them."""
        params = {"include_closed": "true" if include_closed else "false"}
        data = self._json(self._request("GET", wire.SESSIONS_PATH, params=params))
        return self._models(SessionSummary, data, "sessions")

    def create_session(
        self, name: str, participants: Sequence[str] = (), description: str = ""
    ) -> SessionDetail:
        """Create a session with us and ``participants`` in it."""
        body = body_of(
            CreateSessionRequest,
            name=name,
            participants=list(participants),
            description=description,
        )
        return self._model(SessionDetail, self._request("POST", wire.SESSIONS_PATH, json=body))

    def get_session(self, name: str) -> SessionDetail:
        """One session with its participants."""
        return self._model(SessionDetail, self._request("GET", wire.session_path(name)))

    def close_session(self, name: str) -> SessionDetail:
        """Close a session we created; nobody can post to it afterwards."""
        return self._model(SessionDetail, self._request("DELETE", wire.session_path(name)))

    def invite(self, name: str, clients: Sequence[str]) -> SessionDetail:
        """Add participants to a session."""
        body = body_of(InviteRequest, clients=list(clients))
        response = self._request("POST", wire.session_invite_path(name), json=body)
        return self._model(SessionDetail, response)

    def leave(self, name: str) -> None:
        """Leave a session."""
        self._request("POST", wire.session_leave_path(name))

    def claim_role(self, session: str, role: str) -> RoleClaim:
        """Hold ``role`` in the session: messages to ``@role`` reach us from now on."""
        return self._model(RoleClaim, self._request("PUT", role_path(session, role)))

    def release_role(self, session: str, role: str) -> RoleClaim:
        """Give ``role`` up."""
        return self._model(RoleClaim, self._request("DELETE", role_path(session, role)))


def role_path(session: str, role: str) -> str:
    """The path of ``role`` (``@`` or not) in ``session``, the role quoted as a path segment."""
    return f"{wire.session_path(session)}/roles/{quote(role.removeprefix('@'), safe='')}"

"""Roles: a participant claims ``reviewer`` in a session, and ``@reviewer`` reaches whoever
holds it when the message is read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relay_core import Forbidden, InvalidInput, now_ms
from relay_core.models import RoleClaim
from relay_core.names import ROLE_PREFIX, validate_role
from relay_server.service.base import ServiceBase
from relay_server.storage import roles, sessions


@dataclass(frozen=True)
class Addressing:
    """Whom a message's ``to`` names: clients, and roles with their holders now."""

    clients: list[str]
    roles: list[str]
    holders: dict[str, str]

    @classmethod
    def of(cls, session_id: int, to: Sequence[str]) -> Addressing:
        """Split ``to`` into client ids and roles; look the roles' holders up."""
        clients = [a for a in to if not a.startswith(ROLE_PREFIX)]
        named = [a.removeprefix(ROLE_PREFIX) for a in to if a.startswith(ROLE_PREFIX)]
        held_by = roles.holders(session_id) if named else {}
        return cls(clients, named, {r: held_by[r] for r in named if r in held_by})

    @property
    def held(self) -> list[str]:
        """Roles nobody holds: the message waits for their next holder."""
        return [role for role in self.roles if role not in self.holders]

    def readers(self, members: set[str]) -> set[str]:
        """Who may read it now: the named clients and the roles' holders, or everyone."""
        if not self.clients and not self.roles:
            return members
        return set(self.clients) | set(self.holders.values())

    def record(self, message_id: int) -> None:
        """Store the roles it was addressed to (``held`` where nobody holds one)."""
        if self.roles:
            roles.address(message_id, self.roles, self.held)


class RolesFeature(ServiceBase):
    """Claim and release roles of a session."""

    def claim_role(self, caller: str, name: str, role: str) -> RoleClaim:
        """Make the caller the holder of ``role`` in the session, taking it from anyone who held
        it; messages sent to the role while nobody held it are the caller's now.

        Raises:
            InvalidInput: not a valid role name.
            NotFound, Forbidden: no such session, or the caller is not in it.
            Conflict: the session is closed.
        """
        role = validate_role(role.removeprefix(ROLE_PREFIX))
        with self.storage.transaction():
            session = sessions.open_session_row(name)
            sessions.membership(session, caller)
            previous = roles.holder(session.id, role)
            held = roles.claim(session.id, role, caller, now_ms())
        return RoleClaim(session=name, role=role, holder=caller, previous=previous, held=held)

    def release_role(self, caller: str, name: str, role: str) -> RoleClaim:
        """Give ``role`` up; only its holder may.

        Raises:
            Forbidden: someone else holds it.
            InvalidInput, NotFound: as for :meth:`claim_role`; also when nobody holds it.
        """
        role = validate_role(role.removeprefix(ROLE_PREFIX))
        with self.storage.transaction():
            session = sessions.session_row(name)
            sessions.membership(session, caller)
            holder = roles.holder(session.id, role)
            if holder is None:
                raise InvalidInput(f"nobody holds role {role!r} in session {name!r}")
            if holder != caller:
                raise Forbidden(f"role {role!r} is held by {holder!r}, not by you")
            roles.release(session.id, role)
        return RoleClaim(session=name, role=role, holder=None, previous=caller)

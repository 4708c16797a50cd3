"""Replicas: hearing the messages every relay process on a shared database commits.

On PostgreSQL the storage layer hears each committed message, this process's and the other
replicas', in commit order (LISTEN/NOTIFY, :meth:`Storage.follow_changes`). :class:`Replicas`
hands each to the event hub as an announcement: the hub delivers this process's own event for it
(with its message), or else one built here, without the message, for the members of its session
(``watch`` listeners then read the store). On SQLite there is nothing to follow: one process
holds the database and its hub hears every commit directly.
"""

from __future__ import annotations

import logging

from relay_core import RelayError
from relay_server.events import EventHub, Posted
from relay_server.storage import Closable, Storage, roster

log = logging.getLogger(__name__)


class Replicas:
    """Feeds ``hub`` with the commits of every relay process on ``storage`` (PostgreSQL only)."""

    def __init__(self, storage: Storage, hub: EventHub) -> None:
        self.storage = storage
        self.hub = hub
        self.listener: Closable | None = None
        """What hears the database (None on SQLite, or before :meth:`start`)."""

    def start(self) -> Replicas:
        """Start listening; from then on the hub delivers in the database's commit order."""
        self.listener = self.storage.follow_changes(self._committed, self.hub.resync)
        if self.listener is not None:
            self.hub.follow_announcements()
        return self

    def stop(self) -> None:
        """Stop listening (the relay is shutting down)."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def _committed(self, message_id: int, sender: str, session: str) -> None:
        self.hub.announced(message_id, lambda: self._unheld(message_id, sender, session))

    @staticmethod
    def _unheld(message_id: int, sender: str, session: str) -> Posted:
        """News of another process's message, for every member of its session but its sender:
        more than its readers perhaps (a message to some), who then find nothing new."""
        try:
            members = roster.roster(session).members
        except RelayError:  # the session is gone meanwhile: nobody to wake
            members = frozenset()
        return Posted(message_id, session, sender, members - {sender})

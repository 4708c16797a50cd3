"""What every feature of the service shares: the store, the event hub, the configuration."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from relay_core import now_ms
from relay_core.models import AuthMode
from relay_server.events import EventHub
from relay_server.service.last_seen import LastSeen
from relay_server.storage import Storage
from relay_server.storage.blobs import BlobStore
from relay_server.token_marker import TokenMarker


class OpenConnection(Protocol):
    """One open MCP connection, as its adapter tracks it."""

    @property
    def client_id(self) -> str: ...

    @property
    def streams(self) -> int: ...


class ConnectionSource(Protocol):
    """Whatever knows the relay's open MCP connections (``McpSessions``)."""

    def records(self) -> Iterable[OpenConnection]: ...


@dataclass(frozen=True)
class RelayLimits:
    """The configured limits the service enforces and reports."""

    max_blob_bytes: int
    blob_quota_bytes: int
    inline_file_bytes: int


class ServiceBase:
    """The state the feature classes of :class:`~relay_server.service.RelayService` work on."""

    def __init__(
        self,
        storage: Storage,
        hub: EventHub,
        *,
        version: str,
        auth_mode: AuthMode,
        limits: RelayLimits,
        blobs: BlobStore | None = None,
        token_marker: TokenMarker | None = None,
    ) -> None:
        self.storage = storage
        self.token_marker = token_marker
        self.hub = hub
        self.version = version
        self.auth_mode = auth_mode
        self.limits = limits
        self.blobs = blobs
        self._started = time.monotonic()
        self._touched: dict[str, float] = {}
        self._touch_lock = threading.Lock()
        self._seen: dict[str, int] = {}
        """Last-seen times not written yet (see ``ClientsFeature.touch_due``)."""
        self._seen_flush: threading.Timer | None = None
        self._seen_writing = threading.Lock()
        """Held while noted times are written: the relay's stop waits for a flush under way."""
        self._seen_closed = False
        self.last_seen = LastSeen()
        """When clients were last seen, without a query where memory knows (presence)."""
        # Each service's own: a class attribute would be one lock for every relay in a process.
        self._handed_lock = threading.Lock()
        """Guards the handovers noted and not written yet (``DeliveriesFeature``)."""
        self._due_lock = threading.Lock()
        """Guards the one reply-by and expiry timer (``DeadlinesFeature``)."""

    _connections: ConnectionSource | None = None

    delivery_clock: Callable[[], int] = staticmethod(now_ms)
    """Milliseconds now, for message times, deadlines, expiry and deliveries (tests set their
    own)."""

    def attach_connections(self, source: ConnectionSource) -> None:
        """Learn the open MCP connections from ``source`` (the app calls this once): the
        service does not know MCP, the adapter that does tells it who is live."""
        self._connections = source

    def live_clients(self) -> frozenset[str]:
        """Clients holding an open MCP stream right now (none when no source is attached)."""
        if self._connections is None:
            return frozenset()
        return frozenset(r.client_id for r in self._connections.records() if r.streams > 0)

"""The relay itself and who we are to it: health, clock, identity, status and peers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from relay_client.api.connection import Connection
from relay_core import Health, Peer, Status, WhoAmI, wire


class RelayMixin(Connection):
    """``/healthz``, ``whoami``, ``status`` and ``peers``."""

    def health(self) -> Health:
        """``GET /healthz``: the relay answers, with its version and uptime (no auth needed)."""
        return self._model(Health, self._request("GET", wire.HEALTH_PATH))

    def clock_skew_s(self) -> float | None:
        """Seconds the relay's clock is ahead of ours (negative: behind), from its Date header.

        None when the relay sends no usable Date header. The header has whole seconds, so a
        skew under about a second means nothing.
        """
        before = time.time()
        response = self._request("GET", wire.HEALTH_PATH)
        after = time.time()
        try:
            server = parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError):
            return None
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        midpoint = datetime.fromtimestamp((before + after) / 2, tz=UTC)
        return (server - midpoint).total_seconds()

    def whoami(self) -> WhoAmI:
        """``GET /api/v1/whoami``: who the relay thinks we are (checks the token)."""
        return self._model(WhoAmI, self._request("GET", wire.WHOAMI_PATH))

    def status(self) -> Status:
        """``GET /api/v1/status``: counts, limits and our unread total."""
        return self._model(Status, self._request("GET", wire.STATUS_PATH))

    def peers(self) -> list[Peer]:
        """``GET /api/v1/peers``: the clients the relay has seen, with last-seen times."""
        data = self._json(self._request("GET", wire.PEERS_PATH))
        return self._models(Peer, data, "peers")

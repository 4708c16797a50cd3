"""When clients were last seen, as this process knows it, so that a send need not ask the store.

A send answers which of its recipients are offline (not seen within a minute). The times this
process noted itself are in memory; the store has the times written before its start and by
other relay processes. :meth:`LastSeen.since` answers from memory whatever memory proves recent
enough, and reads the rest from the store at most once per :data:`REREAD_S` per client: the
store's times already lag by up to a flush interval, so that adds no new kind of staleness.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Final

from relay_server.storage import clients

REREAD_S: Final = 2.0
"""A time read from the store is used for this long before it is read again."""

_NEVER: Final = -1
"""Read from the store: the client is unknown there."""


class LastSeen:
    """The last-seen times this process noted or read (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._noted: dict[str, int] = {}
        """Milliseconds since the epoch at which this process last noted each client."""
        self._read: dict[str, tuple[float, int | None]] = {}
        """Per client: when (clock) it was read from the store, and what was there
        (milliseconds, None for never seen, :data:`_NEVER` for an unknown client)."""

    def note(self, client_id: str, stamp_ms: int) -> None:
        """``client_id`` called at ``stamp_ms``."""
        with self._lock:
            if stamp_ms > self._noted.get(client_id, 0):
                self._noted[client_id] = stamp_ms

    def since(self, client_ids: Iterable[str], recent_ms: int) -> dict[str, int | None]:
        """When each of ``client_ids`` was last seen (None: never; unknown ids left out), exact
        enough to tell whether that was at or after ``recent_ms``.

        Memory answers where it holds a time at or after ``recent_ms`` (a time this process
        saw is never later than the truth), or a fresh read. Call it where a query may run.
        """
        answer: dict[str, int | None] = {}
        missing: list[str] = []
        now = self._clock()
        with self._lock:
            for client_id in client_ids:
                noted = self._noted.get(client_id)
                read = self._read.get(client_id)
                if noted is not None and noted >= recent_ms:
                    answer[client_id] = noted
                elif read is not None and now - read[0] < REREAD_S:
                    if read[1] != _NEVER:
                        answer[client_id] = _later(noted, read[1])
                else:
                    missing.append(client_id)
        if missing:
            stored = clients.last_seen_ms_of(missing)
            with self._lock:
                for client_id in missing:
                    at = stored.get(client_id, _NEVER)
                    self._read[client_id] = (now, at)
                    if at != _NEVER:
                        answer[client_id] = _later(self._noted.get(client_id), at)
        return answer


def _later(a: int | None, b: int | None) -> int | None:
    """The later of two times, either of which may be missing."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)

"""Clients: who is calling, their tokens, what the relay and its peers look like to them."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from functools import partial

from relay_core import (
    NotFound,
    Peer,
    QuotaExceeded,
    Status,
    StatusCounts,
    StatusLimits,
    Unavailable,
    WhoAmI,
    from_ms,
    now_ms,
    validate_client_id,
    validate_client_identity,
)
from relay_core.wire import MAX_PAGE_SIZE, MAX_TEXT_BYTES, MAX_WAIT_S
from relay_server.service.base import ServiceBase
from relay_server.storage import clients, messages, sessions

log = logging.getLogger(__name__)

TOUCH_INTERVAL_S = 5.0
"""Record a client's ``last_seen`` at most this often (it is a write)."""
SEEN_FLUSH_S = 2.0
"""Last-seen times wait in memory at most this long, then are written together, off every
request's path."""


class ClientsFeature(ServiceBase):
    """Uptime, last-seen bookkeeping, per-client tokens, whoami, status and peers."""

    def uptime_s(self) -> float:
        """Seconds since the service started."""
        return round(time.monotonic() - self._started, 3)

    def touch_due(self, client_id: str) -> bool:
        """True when the caller must record ``client_id`` as seen now (:meth:`record_seen`).

        That is once per client after a start (the call may create the client). After that a
        call at most every :data:`TOUCH_INTERVAL_S` is noted in memory and written with the
        others within :data:`SEEN_FLUSH_S`, in one transaction, off the request's path; the
        answer is then False.
        """
        now = time.monotonic()
        with self._touch_lock:
            last = self._touched.get(client_id)
            if last is not None and now - last < TOUCH_INTERVAL_S:
                return False
            self._touched[client_id] = now
            stamp = now_ms()
            self.last_seen.note(client_id, stamp)
            if last is None:
                return True
            self._seen[client_id] = stamp
            if self._seen_flush is None and not self._seen_closed:
                # A copy of this context: it says which relay's database the models use.
                flush = threading.Timer(
                    SEEN_FLUSH_S, contextvars.copy_context().run, (self.flush_seen,)
                )
                flush.daemon = True
                self._seen_flush = flush
                flush.start()
            return False

    def flush_seen(self) -> None:
        """Write the last-seen times noted in memory, in one transaction.

        Bookkeeping only: on a full disk they are dropped (and logged).
        """
        with self._seen_writing:
            with self._touch_lock:
                stamps, self._seen = self._seen, {}
                self._seen_flush = None
            if not stamps:
                return
            try:
                self.storage.write(partial(clients.record_seen_many, stamps))
            except QuotaExceeded as exc:
                log.warning("last-seen times of %d clients not recorded: %s", len(stamps), exc)

    def stop_seen(self) -> None:
        """Write the last-seen times still in memory and arm no more writes: the relay calls
        this as it stops, before its store closes, so no time is lost and no timer writes to
        a closed store (or a dropped database) later. Waits for a write under way."""
        with self._touch_lock:
            self._seen_closed = True
            timer, self._seen_flush = self._seen_flush, None
        if timer is not None:
            timer.cancel()
        self.flush_seen()

    def record_seen(self, client_id: str) -> None:
        """Record that ``client_id`` called now, creating the client on its first call.

        Bookkeeping only: on a full disk it is skipped (and logged), so reads keep working.
        """
        stamp = now_ms()
        try:
            with self.storage.transaction():
                clients.record_seen(client_id, stamp)
        except QuotaExceeded as exc:
            log.warning("last-seen time of %s not recorded: %s", client_id, exc)

    def register_client(self, client_id: str, token_hash: str) -> bool:
        """Give a client a per-client token, creating the client or replacing its token.

        Used by ``agent-relay-server add-client``. A running relay refuses the old token from
        its next request on (see :mod:`relay_server.token_marker`). Returns True when the
        client already had a token, which the new one replaced.
        """
        validate_client_identity(client_id)
        with self.storage.transaction():
            replaced = clients.set_token(client_id, token_hash, now_ms())
        self._tokens_changed()
        return replaced

    def remove_client_token(self, client_id: str) -> None:
        """Take a client's per-client token away; its sessions and messages stay.

        Used by ``agent-relay-server remove-client``; a running relay refuses the token from
        its next request on.

        Raises:
            NotFound: the client has no token on this relay.
        """
        validate_client_id(client_id)
        with self.storage.transaction():
            removed = clients.remove_token(client_id)
        if not removed:
            raise NotFound(f"client {client_id!r} has no token on this relay")
        self._tokens_changed()

    def _tokens_changed(self) -> None:
        """Tell a running relay that tokens changed (see :mod:`relay_server.token_marker`).

        Raises:
            Unavailable: the change is stored, but the marker could not be written.
        """
        if self.token_marker is None:
            return
        try:
            self.token_marker.announce()
        except OSError as exc:
            raise Unavailable(
                f"the token change is stored, but a running relay could not be told "
                f"({self.token_marker.path}: {exc.strerror}): restart the relay so that it "
                "stops accepting the old token"
            ) from None

    def list_clients(self) -> list[clients.ClientRecord]:
        """Every client the relay knows, whether it holds a per-client token, when last seen.

        Used by ``agent-relay-server clients``.
        """
        return clients.all_clients()

    def client_for_token_hash(self, token_hash: str) -> str | None:
        """The client a per-client token belongs to, if any."""
        return clients.client_for_token_hash(token_hash)

    def whoami(self, caller: str) -> WhoAmI:
        """The caller as the relay sees it."""
        row = clients.client_row(caller)
        seen = row.last_seen_ms or now_ms()
        return WhoAmI(
            client_id=caller,
            auth_mode=self.auth_mode,
            first_seen=from_ms(row.first_seen_ms or seen),
            last_seen=from_ms(seen),
        )

    def status(self, caller: str) -> Status:
        """Version, uptime, counts, limits and the caller's unread total."""
        blob_count, blob_bytes = self.blobs.usage() if self.blobs else (0, 0)
        unread = sum(
            s.unread for s in sessions.session_summaries(caller, True, self.delivery_clock())
        )
        return Status(
            version=self.version,
            uptime_s=self.uptime_s(),
            caller=caller,
            auth_mode=self.auth_mode,
            counts=StatusCounts(
                clients=clients.count_clients(),
                sessions=sessions.count_sessions(),
                messages=messages.count_messages(),
                blobs=blob_count,
                blob_bytes=blob_bytes,
            ),
            limits=StatusLimits(
                max_text_bytes=MAX_TEXT_BYTES,
                max_blob_bytes=self.limits.max_blob_bytes,
                blob_quota_bytes=self.limits.blob_quota_bytes,
                inline_file_bytes=self.limits.inline_file_bytes,
                max_page_size=MAX_PAGE_SIZE,
                max_wait_s=MAX_WAIT_S,
            ),
            unread=unread,
        )

    def list_peers(self, caller: str) -> list[Peer]:
        """Every other client the relay knows, with the sessions the caller shares with it."""
        return clients.peers(caller)

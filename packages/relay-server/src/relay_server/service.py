"""RelayService: every use case of the relay, in one place.

Adapters (MCP tools, HTTP API) parse requests and shape answers; every decision about data is
made here. The caller's client id is always passed in explicitly by the adapter that
authenticated it, never taken from a request body.

Methods are synchronous and short (they run in worker threads, one SQLite connection per
thread), except the waits, which are async and hold no thread while they wait. Writes run in one
``BEGIN IMMEDIATE`` transaction each and signal the event hub only after commit, so a woken
reader always finds the row.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import anyio

from relay_core import (
    Attachment,
    BlobInfo,
    Conflict,
    CreateSessionRequest,
    Forbidden,
    InvalidInput,
    InviteRequest,
    Message,
    MessagePage,
    NotFound,
    Peer,
    QuotaExceeded,
    ReadPosition,
    SendMessageRequest,
    SentMessage,
    SessionDetail,
    SessionSummary,
    Status,
    StatusCounts,
    StatusLimits,
    TooLarge,
    Unavailable,
    WhoAmI,
    from_ms,
    now_ms,
    validate_client_id,
    validate_digest,
)
from relay_core.errors import shown
from relay_core.models import AuthMode
from relay_core.wire import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_WAIT_S,
    MAX_MESSAGE_ID,
    MAX_PAGE_SIZE,
    MAX_TEXT_BYTES,
    MAX_WAIT_S,
)
from relay_server.events import EventHub, Posted
from relay_server.storage import Storage, clients, files, messages, sessions
from relay_server.storage.blobs import BlobReader, BlobStore, GcReport, StoredBlob, Upload
from relay_server.token_marker import TokenMarker

log = logging.getLogger(__name__)

TOUCH_INTERVAL_S = 5.0
"""Record a client's ``last_seen`` at most this often (it is a write)."""


@dataclass(frozen=True)
class RelayLimits:
    """The configured limits the service enforces and reports."""

    max_blob_bytes: int
    blob_quota_bytes: int
    inline_file_bytes: int


def _page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    return limit


def _timeout(timeout_s: float) -> float:
    if not 0 <= timeout_s <= MAX_WAIT_S:
        raise InvalidInput(f"timeout must be between 0 and {MAX_WAIT_S:g} seconds, got {timeout_s}")
    return float(timeout_s)


def _message_id(value: int, what: str) -> int:
    if not 0 <= value <= MAX_MESSAGE_ID:
        raise InvalidInput(f"{what} must be between 0 and {MAX_MESSAGE_ID}, got {shown(value)}")
    return value


def _after(after_id: int | None) -> int | None:
    return None if after_id is None else _message_id(after_id, "after_id")


class RelayService:
    """Sessions, messages, read positions and peers, for authenticated callers."""

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

    # --- clients ----------------------------------------------------------------------------

    def uptime_s(self) -> float:
        """Seconds since the service started."""
        return round(time.monotonic() - self._started, 3)

    def touch_due(self, client_id: str) -> bool:
        """True (once) when ``client_id``'s last-seen time is due to be recorded again."""
        now = time.monotonic()
        with self._touch_lock:
            if now - self._touched.get(client_id, -TOUCH_INTERVAL_S) < TOUCH_INTERVAL_S:
                return False
            self._touched[client_id] = now
            return True

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
        validate_client_id(client_id)
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
        unread = sum(s.unread for s in self.list_sessions(caller, include_closed=True))
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

    # --- sessions ---------------------------------------------------------------------------

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
        return sessions.session_summaries(caller, include_closed)

    def get_session(self, caller: str, name: str) -> SessionDetail:
        """A session the caller belongs to, with its participants."""
        session = sessions.session_row(name)
        membership = sessions.membership(session, caller)
        last_id, unread = messages.counts(session.id, caller, membership.last_read_id)
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

    # --- messages ---------------------------------------------------------------------------

    def post_message(self, caller: str, name: str, request: SendMessageRequest) -> SentMessage:
        """Store a message from the caller, then wake its recipients.

        Raises:
            NotFound: no such session, or ``reply_to`` is not a message the caller can read.
            Forbidden: the caller is not a participant.
            Conflict: the session is closed.
            InvalidInput: a recipient is not a participant, or an attachment is not uploaded.
        """
        stamp = now_ms()
        # The event leaves after the commit, in commit order, carrying the message itself.
        with self.hub.after_commit() as publish, self.storage.transaction():
            session = sessions.open_session_row(name)
            members = sessions.members_including(session, caller)
            strangers = [c for c in request.to if c not in members]
            if strangers:
                raise InvalidInput(
                    f"{strangers[0]!r} is not a participant of session {name!r}; invite it first"
                )
            if request.reply_to is not None:
                messages.visible_message(caller, request.reply_to, session_id=session.id)
            attachments = self._resolve_attachments(caller, request)
            message_id = messages.add_message(
                session.id,
                caller,
                text=request.text,
                reply_to=request.reply_to,
                recipients=request.to,
                attachments=attachments,
                stamp=stamp,
            )
            readers = set(request.to) if request.to else members
            publish(
                Posted(
                    message_id=message_id,
                    session=name,
                    sender=caller,
                    recipients=frozenset(readers - {caller}),
                    message=Message(
                        id=message_id,
                        session=name,
                        sender=caller,
                        to=sorted(request.to),
                        reply_to=request.reply_to,
                        text=request.text,
                        attachments=[Attachment(**a) for a in attachments],
                        created_at=from_ms(stamp),
                    ),
                )
            )
        return SentMessage(id=message_id, session=name, created_at=from_ms(stamp))

    def read_messages(
        self,
        caller: str,
        name: str,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        mark_read: bool = False,
    ) -> MessagePage:
        """A page of the session's messages the caller can read, in id order.

        With no ``after_id`` the page starts at the caller's read position. ``mark_read`` moves
        that position to the end of the page.
        """
        _page_limit(limit)
        _after(after_id)
        session = sessions.session_row(name)
        membership = sessions.membership(session, caller)
        start = membership.last_read_id if after_id is None else after_id
        page = messages.session_page(caller, session.id, start, limit)
        if mark_read and page.messages:
            with self.storage.transaction():
                sessions.advance_read(session.id, caller, page.messages[-1].id)
        return page

    def poll(
        self,
        caller: str,
        name: str | None = None,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> MessagePage:
        """Messages from others the caller has not seen: one page, without waiting.

        In one session (``name``) or all of the caller's sessions; after ``after_id`` (ids are
        global) or, without it, after the caller's read position in each session.
        """
        _page_limit(limit)
        _after(after_id)
        if name is None:
            return messages.unseen_everywhere(caller, after_id, limit)
        session = sessions.session_row(name)
        membership = sessions.membership(session, caller)
        start = membership.last_read_id if after_id is None else after_id
        return messages.unseen_in_session(caller, session.id, start, limit)

    async def wait_for_messages(
        self,
        caller: str,
        name: str | None = None,
        after_id: int | None = None,
        timeout_s: float = DEFAULT_WAIT_S,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> MessagePage:
        """Like :meth:`poll`, but when nothing is there, wait up to ``timeout_s`` for it."""
        _timeout(timeout_s)
        fetch = partial(self.poll, caller, name, after_id, limit)
        return await self._long_poll(caller, name, fetch, timeout_s)

    async def read_or_wait(
        self,
        caller: str,
        name: str,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        wait_s: float = 0,
    ) -> MessagePage:
        """:meth:`read_messages`, waiting up to ``wait_s`` when the page would be empty."""
        _timeout(wait_s)
        fetch = partial(self.read_messages, caller, name, after_id, limit)
        return await self._long_poll(caller, name, fetch, wait_s)

    async def _long_poll(
        self,
        caller: str,
        name: str | None,
        fetch: Callable[[], MessagePage],
        timeout_s: float,
    ) -> MessagePage:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        woken = asyncio.Event()

        def on_posted(event: Posted) -> None:
            if name is None or event.session == name:
                woken.set()

        # Subscribe before the first fetch: a message committed after the fetch read the
        # table is then guaranteed to set the event.
        unsubscribe = self.hub.subscribe([caller], on_posted)
        stop_watching_close = self.hub.on_close(woken.set)
        log.debug("%s waits up to %gs for %s", caller, timeout_s, name or "any session")
        try:
            while True:
                if self.hub.closed:
                    # Answer now, as an error the client retries, rather than be cut off
                    # mid-wait when the server's grace period ends.
                    raise Unavailable("the relay is shutting down; try again in a moment")
                woken.clear()
                page = await anyio.to_thread.run_sync(fetch)
                remaining = deadline - loop.time()
                if page.messages:
                    return page
                if remaining <= 0:
                    return page.model_copy(update={"timed_out": True})
                with anyio.move_on_after(remaining):
                    await woken.wait()
        finally:
            unsubscribe()
            stop_watching_close()

    def latest_message_id(self) -> int:
        """The newest message id in the relay (0 when empty)."""
        return messages.latest_message_id()

    def get_message(self, caller: str, message_id: int) -> Message:
        """One message the caller can read.

        Raises:
            NotFound: no such message, or the caller may not read it.
        """
        return messages.get_message(caller, _message_id(message_id, "message id"))

    def mark_read(self, caller: str, name: str, up_to_id: int) -> ReadPosition:
        """Move the caller's read position forward to ``up_to_id`` (never backward)."""
        _message_id(up_to_id, "up_to_id")
        session = sessions.session_row(name)
        sessions.membership(session, caller)
        with self.storage.transaction():
            sessions.advance_read(session.id, caller, up_to_id)
        membership = sessions.membership(session, caller)
        _, unread = messages.counts(session.id, caller, membership.last_read_id)
        return ReadPosition(session=name, last_read_id=membership.last_read_id, unread=unread)

    # --- files ------------------------------------------------------------------------------

    def begin_upload(self, caller: str, sha256: str, declared_size: int) -> Upload:
        """Start storing a file the caller names by digest; limits are checked before any byte.

        Raises:
            InvalidInput: a malformed digest or size.
            TooLarge: over ``max_blob_bytes``.
            RateLimited: the caller's uploads in flight would declare more than its cap.
            QuotaExceeded: the store would go over ``blob_quota_bytes``.
        """
        return self._blob_store().begin(sha256, declared_size, owner=caller)

    def finish_upload(self, caller: str, upload: Upload) -> BlobInfo:
        """Commit an upload (fsync, size and digest check) and record the caller as uploader.

        Slow for big files (fsync): call it from a worker thread.

        Raises:
            InvalidInput: fewer bytes than declared, or ``digest mismatch: ...``.
            QuotaExceeded: the disk filled up.
        """
        created = upload.commit()
        self._record_upload(caller, upload.sha256)
        return BlobInfo(sha256=upload.sha256, size=upload.received, created=created)

    def put_blob(self, caller: str, data: bytes) -> BlobInfo:
        """Store a small file sent inline (MCP ``upload_file``); it is named by its digest.

        Raises:
            TooLarge: over ``inline_file_bytes`` (upload with ``PUT /blobs/{sha256}`` instead).
        """
        self._check_inline(len(data))
        # One hash names the blob; the bytes are in memory, so the store need not hash them
        # again to check that name.
        sha256, created = self._blob_store().add_bytes(data, owner=caller)
        self._record_upload(caller, sha256)
        return BlobInfo(sha256=sha256, size=len(data), created=created)

    def blob_info(self, caller: str, sha256: str) -> StoredBlob:
        """Size and upload time of a file the caller may download.

        Raises:
            NotFound: not stored, or the caller neither uploaded it nor can read a message that
                has it attached (the two are not told apart).
        """
        self._check_blob_access(caller, sha256)
        return self._blob_store().stat(sha256)

    def open_blob(
        self, caller: str, sha256: str, start: int = 0, end: int | None = None
    ) -> BlobReader:
        """Open a file the caller may download, to stream bytes ``start``..``end`` (inclusive).

        The reader verifies the digest as it goes (see :class:`BlobReader`).

        Raises:
            NotFound: as for :meth:`blob_info`.
            InvalidInput: the range does not fit the file.
        """
        self._check_blob_access(caller, sha256)
        return self._blob_store().open_for_read(sha256, start, end)

    def read_blob(self, caller: str, sha256: str) -> bytes:
        """A whole small file the caller may download, verified (MCP ``download_file``).

        Raises:
            NotFound: as for :meth:`blob_info`.
            TooLarge: over ``inline_file_bytes`` (download with ``GET /blobs/{sha256}``).
        """
        self._check_inline(self.blob_info(caller, sha256).size)
        return self._blob_store().read_bytes(sha256)

    def collect_garbage(
        self, grace_s: float, *, dry_run: bool = False, now: float | None = None
    ) -> GcReport:
        """Remove files no message references once ``grace_s`` has passed since their upload.

        Also removes temp files left by crashed uploads. With ``dry_run``, only reports.
        """
        report = self._blob_store().gc(
            files.blob_referenced, grace_s=grace_s, now=now, dry_run=dry_run
        )
        if report.blobs and not dry_run:
            files.forget_uploads(blob.sha256 for blob in report.blobs)
        return report

    def _blob_store(self) -> BlobStore:
        if self.blobs is None:
            raise Unavailable("this relay has no file store")
        return self.blobs

    def _check_inline(self, size: int) -> None:
        if size > self.limits.inline_file_bytes:
            raise TooLarge(
                f"file is {size} bytes; MCP tools move at most {self.limits.inline_file_bytes} "
                "bytes inline: use PUT/GET /blobs/{sha256} (agent-relay send-file / fetch-file)"
            )

    def _record_upload(self, caller: str, sha256: str) -> None:
        stamp = now_ms()
        with self.storage.transaction():
            files.record_upload(caller, sha256, stamp)

    def _check_blob_access(self, caller: str, sha256: str) -> None:
        validate_digest(sha256)
        if not files.may_read_blob(caller, sha256):
            raise NotFound(f"file {sha256} does not exist or is not visible to you")

    def _resolve_attachments(
        self, caller: str, request: SendMessageRequest
    ) -> list[dict[str, object]]:
        resolved = []
        for ref in request.attachments:
            size = self.blobs.size_of(ref.sha256) if self.blobs else None
            # A file the caller neither uploaded nor can read is refused like a missing one:
            # knowing a digest must not be enough to pass a file on.
            if size is None or not files.may_read_blob(caller, ref.sha256):
                raise InvalidInput(
                    f"attachment {ref.filename!r}: file {ref.sha256[:12]}... is not on the relay; "
                    "upload it first (PUT /blobs/{sha256} or the upload_file tool)"
                )
            resolved.append(
                {"sha256": ref.sha256, "filename": ref.filename, "size": size, "mime": ref.mime}
            )
        return resolved

"""RelayClient: the relay's HTTP API (docs/http-api.md) over one ``requests.Session``.

What every call gets:

- timeouts, always: a connect timeout and a read timeout; a long poll's read timeout is its wait
  plus a margin, so a wait is never cut short and a dead relay is never waited on forever;
- retries only where repeating is harmless: GET, HEAD and the content-addressed blob PUT, after a
  connection error or a 503, with a short back-off. POSTs are sent once;
- errors as relay-core errors: an error answer becomes the :class:`relay_core.RelayError` its
  code names (:func:`relay_core.error_from_payload`); a refused connection or a timeout becomes
  :class:`relay_core.Unavailable` with a sentence that says what to check.

These rules live in :mod:`relay_client.transport`, shared with the small stdlib JSON client that
``agent-relay send`` uses to start fast.

Files move as streams in constant memory: the digest is computed locally before an upload, and a
download is hashed as it arrives, kept in a partial file (:mod:`relay_client.partial`) that a
later call resumes with ``Range: bytes=N-``, and renamed into place only once its digest matches.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Final, TypeVar
from urllib.parse import quote

import requests

from relay_client.config import ClientConfig, normalise_relay_url
from relay_client.partial import PartialFile, partial_path
from relay_client.transport import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    DEFAULT_RETRIES,
    FOLLOW_FIRST_DELAY_S,
    FOLLOW_MAX_DELAY_S,
    MAX_RETRY_DELAY_S,
    MISDIRECTED_STATUS,
    RETRY_BACKOFF_S,
    SERVE_HINT,
    USER_AGENT,
    Backoff,
    MisdirectedHost,
    RelayFailed,
    attempts,
    error_of,
    is_outage,
    message_body,
    no_answer,
    retry_delay,
    unreachable,
)
from relay_core import (
    BlobInfo,
    Conflict,
    CreateSessionRequest,
    Hashed,
    Health,
    InviteRequest,
    MarkReadRequest,
    Message,
    MessagePage,
    Peer,
    ReadPosition,
    RelayError,
    RelayModel,
    RequestModel,
    SendMessageRequest,
    SentMessage,
    SessionDetail,
    SessionSummary,
    Status,
    Unavailable,
    WhoAmI,
    hash_file,
    validate_digest,
    wire,
)
from relay_core.approvals import (
    APPROVALS_PATH,
    SETTINGS_PATH,
    Approval,
    ApprovalList,
    ClientSettings,
    approval_answer_path,
    approval_path,
)
from relay_core.delivery import MessageStatus
from relay_core.models import RoleClaim
from relay_core.search import SEARCH_PATH, SearchResults
from relay_core.tasks import (
    TASKS_PATH,
    ClaimRequest,
    HandoffRequest,
    Task,
    TaskSummary,
    TaskWait,
    UpdateTaskRequest,
    task_path,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_READ_TIMEOUT_S",
    "DEFAULT_RETRIES",
    "FOLLOW_FIRST_DELAY_S",
    "FOLLOW_MAX_DELAY_S",
    "LONG_POLL_MARGIN_S",
    "MAX_RETRY_DELAY_S",
    "MISDIRECTED_STATUS",
    "RETRY_BACKOFF_S",
    "SERVE_HINT",
    "TRANSFER_CHUNK_BYTES",
    "USER_AGENT",
    "Backoff",
    "DigestMismatch",
    "Download",
    "MisdirectedHost",
    "ProgressCallback",
    "RelayClient",
    "RelayFailed",
    "UploadResult",
    "is_outage",
]
"""With the rules shared with :mod:`relay_client.transport`, still importable from here."""

LONG_POLL_MARGIN_S: Final = 15.0
"""Added to a long poll's wait to get its read timeout."""
TRANSFER_CHUNK_BYTES: Final = 1024 * 1024

ProgressCallback = Callable[[int, int | None], None]
"""Called as bytes move: (bytes done so far, total bytes or None when unknown)."""

M = TypeVar("M", bound=RelayModel)


class DigestMismatch(RelayError):
    """Downloaded bytes do not hash to the digest they were asked for by."""


@dataclass(frozen=True)
class UploadResult:
    """What :meth:`RelayClient.upload_file` did."""

    sha256: str
    size: int
    uploaded: bool
    """False when the relay already had these bytes and nothing was sent."""


@dataclass(frozen=True)
class Download:
    """A finished download."""

    path: Path
    sha256: str
    size: int
    resumed_from: int
    """Bytes that were already in the ``.part`` file when the download started."""


class RelayClient:
    """The relay's HTTP API as typed methods; one instance keeps one connection pool.

    Every method raises the :class:`relay_core.RelayError` subclass of the relay's answer
    (``NotFound``, ``Unauthorized``, ...), or :class:`relay_core.Unavailable` when the relay
    cannot be reached.
    """

    def __init__(
        self,
        relay_url: str,
        client_id: str | None = None,
        token: str | None = None,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float | None = None,
        session: requests.Session | None = None,
        verify: str | bool = True,
    ) -> None:
        """``verify``: the CA file an HTTPS relay's certificate must chain to (the pinned CA of
        a relay with its own), or True for the system's trusted CAs."""
        self.base_url = normalise_relay_url(relay_url)
        self.client_id = client_id
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.retries = retries
        self.backoff_s = RETRY_BACKOFF_S if backoff_s is None else backoff_s
        self._session = session or requests.Session()
        # Proxies from the environment would send LAN traffic elsewhere; the relay is always
        # addressed directly.
        self._session.trust_env = False
        self._session.verify = verify
        self._session.headers["User-Agent"] = USER_AGENT
        if client_id:
            self._session.headers[wire.CLIENT_ID_HEADER] = client_id
        if token:
            self._session.headers[wire.AUTHORIZATION_HEADER] = wire.BEARER_PREFIX + token

    @classmethod
    def from_config(cls, config: ClientConfig, **options: Any) -> RelayClient:
        """A client for the relay, identity, token and pinned CA of a :class:`ClientConfig`."""
        options.setdefault("verify", config.verify)
        return cls(config.relay_url, config.client_id, config.token or None, **options)

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    def __enter__(self) -> RelayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the relay and the caller ---------------------------------------------------------

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

    # --- sessions -------------------------------------------------------------------------

    def list_sessions(self, *, include_closed: bool = False) -> list[SessionSummary]:
        """Our sessions, newest activity first as the relay orders them."""
        params = {"include_closed": "true" if include_closed else "false"}
        data = self._json(self._request("GET", wire.SESSIONS_PATH, params=params))
        return self._models(SessionSummary, data, "sessions")

    def create_session(
        self, name: str, participants: Sequence[str] = (), description: str = ""
    ) -> SessionDetail:
        """Create a session with us and ``participants`` in it."""
        body = _body(
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
        body = _body(InviteRequest, clients=list(clients))
        response = self._request("POST", wire.session_invite_path(name), json=body)
        return self._model(SessionDetail, response)

    def leave(self, name: str) -> None:
        """Leave a session."""
        self._request("POST", wire.session_leave_path(name))

    # --- messages -------------------------------------------------------------------------

    def read_messages(
        self,
        session: str,
        *,
        after: int | None = None,
        limit: int | None = None,
        wait_s: float | None = None,
    ) -> MessagePage:
        """A page of messages after ``after`` (else after our read position on the relay).

        With ``wait_s``, an empty page is held by the relay until a message arrives or the wait
        ends (``timed_out``). Reading never moves the read position.
        """
        params = _params(after=after, limit=limit, wait=wait_s)
        response = self._request(
            "GET",
            wire.session_messages_path(session),
            params=params,
            read_timeout_s=self._long_poll_timeout(wait_s),
        )
        return self._model(MessagePage, response)

    def send_message(
        self,
        session: str,
        text: str,
        *,
        to: Sequence[str] = (),
        reply_to: int | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        deadlines: Mapping[str, float | None] | None = None,
    ) -> SentMessage:
        """Post a message (sent once, never retried: a retry could post it twice).

        ``deadlines``: ``reply_by_s`` (a bounce names who has not read it by then) and
        ``ttl_s`` (it expires for those who have not read it).

        Raises:
            TooLarge: the text is over the relay's limit (checked before sending).
        """
        fields = message_body(text, to, reply_to, attachments, deadlines)
        body = _body(SendMessageRequest, **fields)
        response = self._request("POST", wire.session_messages_path(session), json=body)
        return self._model(SentMessage, response)

    def mark_read(self, session: str, up_to_id: int) -> ReadPosition:
        """Move our read position on the relay (what ``unread`` counts from)."""
        body = _body(MarkReadRequest, up_to_id=up_to_id)
        response = self._request("POST", wire.session_read_path(session), json=body)
        return self._model(ReadPosition, response)

    def get_message(self, message_id: int) -> Message:
        """One message we can read, by id."""
        return self._model(Message, self._request("GET", wire.message_path(message_id)))

    def message_status(self, message_id: int) -> MessageStatus:
        """Each recipient's state of a message we sent (or our own state of one sent to us)."""
        response = self._request("GET", wire.message_status_path(message_id))
        return self._model(MessageStatus, response)

    def search(
        self,
        query: str,
        *,
        session: str | None = None,
        sender: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> SearchResults:
        """The messages we may read that match ``query``, best first (see relay_core.search)."""
        params = {"q": query}
        if session is not None:
            params["session"] = session
        if sender is not None:
            params["sender"] = sender
        if since is not None:
            params["since"] = since.isoformat()
        if limit is not None:
            params["limit"] = str(limit)
        return self._model(SearchResults, self._request("GET", SEARCH_PATH, params=params))

    def claim_role(self, session: str, role: str) -> RoleClaim:
        """Hold ``role`` in the session: messages to ``@role`` reach us from now on."""
        return self._model(RoleClaim, self._request("PUT", _role_path(session, role)))

    def release_role(self, session: str, role: str) -> RoleClaim:
        """Give ``role`` up."""
        return self._model(RoleClaim, self._request("DELETE", _role_path(session, role)))

    # --- files ----------------------------------------------------------------------------

    def blob_size(self, sha256: str) -> int | None:
        """``HEAD /blobs/{sha256}``: the size of a file the relay holds, or None if it has not."""
        response = self._request("HEAD", wire.blob_path(sha256), allow=(404,))
        if response.status_code == 404:
            return None
        length = response.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else 0

    def upload_file(self, path: Path, *, progress: ProgressCallback | None = None) -> UploadResult:
        """Upload a file unless the relay already has its bytes.

        The digest is computed locally first, then ``HEAD`` asks whether the relay knows it; only
        unknown content is streamed with ``PUT``.
        """
        hashed = hash_file(path)
        if self.blob_size(hashed.sha256) is not None:
            if progress:
                progress(hashed.size, hashed.size)
            return UploadResult(hashed.sha256, hashed.size, uploaded=False)
        info = self.put_blob(path, hashed, progress=progress)
        return UploadResult(info.sha256, info.size, uploaded=True)

    def put_blob(
        self, path: Path, hashed: Hashed, *, progress: ProgressCallback | None = None
    ) -> BlobInfo:
        """Stream a file to ``PUT /blobs/{sha256}``; the relay refuses bytes that do not match.

        Safe to retry: the URL names the content, so a repeated PUT stores nothing new.
        """

        def body() -> _ProgressReader:
            return _ProgressReader(path.open("rb"), hashed.size, progress)

        response = self._request(
            "PUT",
            wire.blob_path(hashed.sha256),
            body=body,
            headers={
                "Content-Length": str(hashed.size),
                "Content-Type": "application/octet-stream",
            },
        )
        return self._model(BlobInfo, response)

    def download_blob(
        self,
        sha256: str,
        dest: Path,
        *,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
    ) -> Download:
        """Download a file to ``dest``, resuming an earlier attempt, checking its digest.

        Bytes go to a hidden partial file next to ``dest`` (see :mod:`relay_client.partial`:
        opened without following links, used only when it is ours); an interrupted download
        keeps it and the next call asks only for the rest. ``dest`` appears only when all bytes
        are there and hash to ``sha256``.

        Raises:
            Conflict: ``dest`` exists and ``overwrite`` is false, or the partial file's name is
                taken by something that is not ours (a planted link).
            DigestMismatch: the bytes do not match (the partial file is removed).
            Unavailable: the transfer broke off (run again to resume).
        """
        validate_digest(sha256)
        if dest.exists() and not overwrite:
            raise Conflict(f"{dest} already exists: pass --force to replace it")
        with PartialFile(partial_path(dest, sha256)) as part:
            resumed_from = self._fetch_into(sha256, part, progress)
            if resumed_from is None:
                # The relay would not continue this partial file (it does not fit its bytes).
                part.restart()
                resumed_from = self._fetch_into(sha256, part, progress)
            if resumed_from is None:
                raise RelayError(f"the relay answered a download of {sha256} with a wrong range")
            if part.hasher.hexdigest() != sha256:
                part.discard()
                raise DigestMismatch(
                    f"the downloaded bytes hash to {part.hasher.hexdigest()}, not {sha256}: "
                    "the partial file was removed; run the command again"
                )
            part.move_to(dest)
            return Download(dest, sha256, part.size, resumed_from)

    def _fetch_into(
        self, sha256: str, part: PartialFile, progress: ProgressCallback | None
    ) -> int | None:
        """Append what ``part`` lacks; where it resumed, or None if the relay cannot continue it."""
        offset = part.size
        if offset and part.hasher.hexdigest() == sha256:
            return offset
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._request(
            "GET", wire.blob_path(sha256), headers=headers, stream=True, allow=(416,)
        )
        with response:
            if response.status_code == 416:
                return None
            if response.status_code == 206:
                if _range_start(response) != offset:
                    return None
            elif offset:
                part.restart()
                offset = 0
            total = _total_size(response, offset)
            self._copy_stream(response, part, progress, total)
        return offset

    def _copy_stream(
        self,
        response: requests.Response,
        part: PartialFile,
        progress: ProgressCallback | None,
        total: int | None,
    ) -> None:
        if progress:
            progress(part.size, total)
        try:
            for chunk in response.iter_content(TRANSFER_CHUNK_BYTES):
                part.append(chunk)
                if progress:
                    progress(part.size, total)
        except requests.RequestException as exc:
            raise Unavailable(
                f"the download from {self.base_url} stopped after {part.size} bytes "
                f"({_reason(exc)}): run the command again to resume"
            ) from None
        finally:
            part.sync()

    # --- the transport --------------------------------------------------------------------

    def _long_poll_timeout(self, wait_s: float | None) -> float:
        return self.read_timeout_s if not wait_s else wait_s + LONG_POLL_MARGIN_S

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        body: Callable[[], Any] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        read_timeout_s: float | None = None,
        allow: Sequence[int] = (),
    ) -> requests.Response:
        """Send one request (retrying idempotent ones) and return a successful answer.

        Statuses in ``allow`` are returned instead of raised.
        """
        url = self.base_url + path
        timeout = (self.connect_timeout_s, read_timeout_s or self.read_timeout_s)
        tries = attempts(method, self.retries)
        for attempt in range(1, tries + 1):
            data = body() if body else None
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    stream=stream,
                    timeout=timeout,
                )
            except requests.ConnectionError as exc:
                if attempt < tries:
                    self._pause(attempt)
                    continue
                raise self._unreachable(exc) from None
            except requests.Timeout:
                raise no_answer(self.base_url, timeout[1]) from None
            except requests.RequestException as exc:
                raise Unavailable(f"the request to {url} failed: {_reason(exc)}") from None
            finally:
                if data is not None and hasattr(data, "close"):
                    data.close()
            if response.status_code == 503 and attempt < tries:
                response.close()
                self._pause(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code < 400 or response.status_code in allow:
                return response
            raise self._error(response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _pause(self, attempt: int, retry_after: str | None = None) -> None:
        time.sleep(retry_delay(self.backoff_s, attempt, retry_after))

    def _unreachable(self, exc: requests.RequestException) -> Unavailable:
        """The one sentence for a relay that cannot be reached."""
        return unreachable(
            self.base_url,
            _reason(exc),
            connect_timed_out=isinstance(exc, requests.ConnectTimeout),
            connect_timeout_s=self.connect_timeout_s,
            full_text=str(exc),
        )

    def _error(self, response: requests.Response) -> RelayError:
        """The RelayError an error answer stands for, even when its body is not ours."""
        return error_of(response.status_code, response.reason, response.content, self.base_url)

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise RelayError(
                f"the relay answered {response.request.method} {response.url} with something "
                f"that is not JSON: {response.text[:120]!r}"
            ) from None

    def _model(self, model: type[M], response: requests.Response) -> M:
        return model.parse_answer(self._json(response))

    def _models(self, model: type[M], data: Any, key: str) -> list[M]:
        rows = data.get(key) if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise RelayError(f"unexpected answer from the relay: no list {key!r}")
        return [model.parse_answer(row) for row in rows]

    # --- tasks (docs/tasks.md) ------------------------------------------------------------

    def handoff_task(
        self,
        session: str,
        title: str,
        *,
        details: str = "",
        assignee: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> Task:
        """Give a task in ``session`` to ``assignee`` (None: anyone in it); sent once."""
        body = _body(
            HandoffRequest,
            title=title,
            details=details,
            assignee=assignee,
            attachments=[dict(a) for a in attachments],
        )
        response = self._request("POST", wire.session_path(session) + "/tasks", json=body)
        return self._model(Task, response)

    def list_tasks(
        self,
        *,
        session: str | None = None,
        state: str | None = None,
        mine: bool = False,
        limit: int | None = None,
    ) -> list[TaskSummary]:
        """Tasks in our sessions (or one), most recently changed first."""
        params = {**_params(limit=limit), "mine": "true" if mine else "false"}
        params.update({k: v for k, v in (("session", session), ("state", state)) if v})
        data = self._json(self._request("GET", TASKS_PATH, params=params))
        return self._models(TaskSummary, data, "tasks")

    def get_task(self, task_id: int) -> Task:
        """One task with its files and history."""
        return self._model(Task, self._request("GET", task_path(task_id)))

    def get_task_a2a(self, task_id: int) -> dict[str, Any]:
        """One task as the JSON of an A2A Task."""
        data = self._json(self._request("GET", task_path(task_id), params={"format": "a2a"}))
        if not isinstance(data, dict):
            raise RelayError("unexpected answer from the relay: an A2A task is an object")
        return data

    def claim_task(self, task_id: int, *, lease_s: int | None = None) -> Task:
        """Take a submitted task; ours while we stay active within ``lease_s``. Sent once."""
        body = _body(ClaimRequest, **({} if lease_s is None else {"lease_s": lease_s}))
        return self._model(Task, self._request("POST", task_path(task_id, "claim"), json=body))

    def update_task(
        self,
        task_id: int,
        state: str | None,
        *,
        note: str = "",
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> Task:
        """Move a task to ``state`` (None: a note only), with files. Sent once."""
        body = _body(
            UpdateTaskRequest, state=state, note=note, attachments=[dict(a) for a in attachments]
        )
        return self._model(Task, self._request("PATCH", task_path(task_id), json=body))

    def settings(self) -> ClientSettings:
        """Our settings on the relay: approvers and push allowlist."""
        return self._model(ClientSettings, self._request("GET", SETTINGS_PATH))

    def update_settings(self, changes: dict[str, list[str] | None]) -> ClientSettings:
        """Change the settings named in ``changes`` (``push_from: None`` restores the default)."""
        response = self._request("PUT", SETTINGS_PATH, json=changes)
        return self._model(ClientSettings, response)

    def approvals(
        self, *, history: bool = False, after_id: int = 0, wait_s: float | None = None
    ) -> ApprovalList:
        """Approvals we asked for or may answer: pending ones, or all with ``history``; with
        ``wait_s``, waits that long for the first one after ``after_id``."""
        params = _params(after_id=after_id, wait=wait_s)
        if history:
            params["history"] = "1"
        response = self._request(
            "GET", APPROVALS_PATH, params=params, read_timeout_s=self._long_poll_timeout(wait_s)
        )
        return self._model(ApprovalList, response)

    def approval(self, approval_id: int) -> Approval:
        """One approval with its audit trail."""
        return self._model(Approval, self._request("GET", approval_path(approval_id)))

    def answer_approval(self, approval_id: int, behavior: str, note: str = "") -> Approval:
        """Allow or deny an approval."""
        body = {"behavior": behavior, "note": note}
        response = self._request("POST", approval_answer_path(approval_id), json=body)
        return self._model(Approval, response)

    def wait_for_task(
        self, task_id: int, *, until: Sequence[str] = (), timeout_s: float | None = None
    ) -> TaskWait:
        """The task once it is in one of ``until`` (default: input-required or final), or when
        ``timeout_s`` ran out (``timed_out``)."""
        params = _params(timeout=timeout_s)
        if until:
            params["until"] = ",".join(until)
        response = self._request(
            "GET",
            task_path(task_id, "wait"),
            params=params,
            read_timeout_s=self._long_poll_timeout(timeout_s or wire.DEFAULT_WAIT_S),
        )
        return self._model(TaskWait, response)


class _ProgressReader:
    """A file object for ``requests`` that reports how much of it has been sent."""

    def __init__(self, handle: IO[bytes], size: int, progress: ProgressCallback | None) -> None:
        self._handle = handle
        self._size = size
        self._progress = progress
        self._done = 0

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._done += len(chunk)
        if self._progress and chunk:
            self._progress(self._done, self._size)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(TRANSFER_CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        self._handle.close()


def _params(**values: float | int | None) -> dict[str, str]:
    return {
        key: f"{value:g}" if isinstance(value, float) else str(value)
        for key, value in values.items()
        if value is not None
    }


def _body(model: type[RequestModel], **fields: Any) -> dict[str, Any]:
    """Validate a request body locally with its relay-core model; the JSON to send (only the
    fields given: a relay that predates a newer optional field still takes the body)."""
    return model.parse(fields).model_dump(mode="json", exclude_unset=True)


def _range_start(response: requests.Response) -> int:
    """The first byte of a 206 answer (``Content-Range: bytes N-M/T``), or -1 if unreadable."""
    value = response.headers.get("Content-Range", "")
    with contextlib.suppress(ValueError, IndexError):
        return int(value.split()[1].split("-")[0])
    return -1


def _total_size(response: requests.Response, start: int) -> int | None:
    """The whole file's size from Content-Range or Content-Length, if the relay sent it."""
    content_range = response.headers.get("Content-Range", "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = response.headers.get("Content-Length", "")
    return start + int(length) if length.isdigit() else None


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests exception, without urllib3's object reprs."""
    reason: BaseException = exc
    while True:
        inner = getattr(reason, "reason", None) or reason.__cause__ or reason.__context__
        if not isinstance(inner, BaseException) or inner is reason:
            break
        reason = inner
    text = str(reason) or type(reason).__name__
    return text.split(": ", 1)[-1] if "object at 0x" in text else text


def _role_path(session: str, role: str) -> str:
    """The path of ``role`` (``@`` or not) in ``session``, the role quoted as a path segment."""
    return f"{wire.session_path(session)}/roles/{quote(role.removeprefix('@'), safe='')}"

"""The client's rules for the relay's answers, and a small JSON client that needs no requests.

Two clients speak the relay's HTTP API and follow the same rules, defined once here:

- :class:`relay_client.api.RelayClient` (over ``requests``): every call, file transfers included;
- :class:`JsonClient` (over the standard library's ``http.client``): the one-shot JSON calls of
  ``agent-relay send``. Skills run that command for every message; loading requests, urllib3
  and the pydantic models made it 31x a bare Python start, 10x without (docs/performance.md,
  figure 10). It answers plain JSON and builds no models.

The rules: a GET, HEAD or PUT is retried after a connection error or a 503 (with a short,
growing pause, or the relay's ``Retry-After``), a POST never (a retry could post twice); an error
answer becomes the :class:`relay_core.RelayError` its code names (:func:`error_of`), and a relay
that cannot be reached becomes :class:`relay_core.Unavailable` with a sentence that says what to
check (:func:`unreachable`).

:class:`JsonClient` speaks ``http://`` only: a relay behind ``https://`` goes through
RelayClient, the one place that holds the client's TLS settings.
"""

from __future__ import annotations

import http.client
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from relay_client import __version__
from relay_core import wire
from relay_core.errors import (
    ERROR_CLASSES,
    Forbidden,
    RelayError,
    TooLarge,
    Unavailable,
    error_from_payload,
)

if TYPE_CHECKING:
    from relay_client.config import ClientConfig

DEFAULT_CONNECT_TIMEOUT_S: Final = 5.0
DEFAULT_READ_TIMEOUT_S: Final = 30.0
DEFAULT_RETRIES: Final = 2
"""Extra attempts of an idempotent call after a connection error or a 503."""
RETRY_BACKOFF_S: Final = 0.5
MAX_RETRY_DELAY_S: Final = 10.0
FOLLOW_FIRST_DELAY_S: Final = 0.5
"""A follower's first pause after the relay went away; each further pause doubles..."""
FOLLOW_MAX_DELAY_S: Final = 30.0
"""...up to this, for as long as the follower runs."""
USER_AGENT: Final = f"agent-relay-client/{__version__}"
SERVE_HINT: Final = "is `agent-relay-server serve` running?"
MISDIRECTED_STATUS: Final = 421
"""The relay's answer to a Host header outside its allowed_hosts."""
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT"})
_CLASS_BY_STATUS: Final = {cls.http_status: cls for cls in ERROR_CLASSES.values()}


class MisdirectedHost(Forbidden):
    """The relay refused the host name of our URL (HTTP 421): its DNS-rebinding guard lets in
    only the names in its ``allowed_hosts``, which only its operator can change."""

    @staticmethod
    def fix(host: str) -> str:
        """What to do about it, for people."""
        return (
            f"the relay's operator must add {host!r} to allowed_hosts in its config file (or to "
            "RELAY_ALLOWED_HOSTS) and restart it; or use a relay_url with a name it already "
            "accepts (`agent-relay onboard --relay-url URL`)"
        )


class RelayFailed(RelayError):
    """The relay (or a proxy before it) answered 5xx without an error of ours: it failed, or
    is going down."""


def is_outage(error: RelayError) -> bool:
    """True when ``error`` means the relay is not there for now (refused, timed out, 503, a
    bare 5xx): worth waiting out, as followers do, rather than giving up."""
    return isinstance(error, Unavailable | RelayFailed)


class Backoff:
    """Pauses between attempts to reach a relay that went away: doubling, capped, jittered.

    The jitter (each pause is 80-100% of its nominal length) keeps many followers of one relay
    from all knocking at the same instant when it comes back.
    """

    def __init__(
        self, first_s: float = FOLLOW_FIRST_DELAY_S, max_s: float = FOLLOW_MAX_DELAY_S
    ) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._next = first_s

    def next_delay(self) -> float:
        """The next pause in seconds; each call doubles the one after, up to ``max_s``."""
        delay = self._next
        self._next = min(self._next * 2, self.max_s)
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        """Start again from ``first_s`` (the relay answered)."""
        self._next = self.first_s


def attempts(method: str, retries: int) -> int:
    """How many times a call may be sent: idempotent ones ``1 + retries``, others once."""
    return 1 + (retries if method in IDEMPOTENT_METHODS else 0)


def retry_delay(backoff_s: float, attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: doubling from ``backoff_s``, or the
    relay's ``Retry-After`` (whole seconds), capped at :data:`MAX_RETRY_DELAY_S`."""
    delay = backoff_s * 2 ** (attempt - 1)
    if retry_after and retry_after.isdigit():
        delay = float(retry_after)
    return float(min(delay, MAX_RETRY_DELAY_S))


def is_error_payload(payload: Any) -> bool:
    """Whether an answer's body is the relay's own ``{"error": {...}}``."""
    return isinstance(payload, dict) and isinstance(payload.get("error"), dict)


def error_of(status: int, reason: str, content: bytes, base_url: str) -> RelayError:
    """The RelayError an error answer stands for, even when its body is not ours."""
    try:
        payload = json.loads(content) if content else None
    except ValueError:
        payload = None
    error = error_from_payload(payload, http_status=status)
    if status == MISDIRECTED_STATUS:
        return misdirected(base_url, error if is_error_payload(payload) else None)
    if is_error_payload(payload):
        return error
    what = f"HTTP {status} {reason or ''}".rstrip()
    cls = _CLASS_BY_STATUS.get(status)
    if cls is not None:
        return cls(f"the relay answered {what}")
    if status >= 500:
        return RelayFailed(f"the relay failed with {what}: the details are in its log")
    return error


def misdirected(base_url: str, said: RelayError | None) -> MisdirectedHost:
    """A 421: the relay does not answer to the host name in our URL."""
    host = urlsplit(base_url).hostname or ""
    message = (
        f"the relay at {base_url} refused the host name {host!r} (HTTP 421 Misdirected "
        "Request), as it answers only to the names in its allowed_hosts: "
        + MisdirectedHost.fix(host)
    )
    if said is not None and said.message not in message:
        message += f". The relay says: {said.message}"
    return MisdirectedHost(message, details={"host": host})


def unreachable(
    base_url: str,
    reason: str,
    *,
    connect_timed_out: bool,
    connect_timeout_s: float,
    full_text: str | None = None,
) -> Unavailable:
    """The one sentence for a relay that cannot be reached.

    ``reason`` is the failure's innermost cause, shown when nothing better is known;
    ``full_text`` (default: ``reason``) is the whole text searched for a known cause.
    """
    text = (full_text or reason).lower()
    where = f"cannot reach the relay at {base_url}"
    if connect_timed_out or "timed out" in text:
        return Unavailable(
            f"{where}: connection timed out after {connect_timeout_s:g} s — "
            f"is the relay host up, the port open, and {SERVE_HINT[3:]}"
        )
    if "refused" in text:
        return Unavailable(f"{where}: connection refused — {SERVE_HINT}")
    if any(s in text for s in ("name or service not known", "nodename", "resolve", "getaddr")):
        host = urlsplit(base_url).hostname
        return Unavailable(
            f"{where}: host name {host!r} not found — check relay_url (`agent-relay config show`)"
        )
    return Unavailable(f"{where}: {reason} — {SERVE_HINT}")


def no_answer(base_url: str, read_timeout_s: float) -> Unavailable:
    """The relay took the request but did not answer in time."""
    return Unavailable(
        f"the relay at {base_url} did not answer within {read_timeout_s:g} s: "
        "it may be overloaded or stuck; try again, or check its log"
    )


def message_body(
    text: str,
    to: Sequence[str] = (),
    reply_to: int | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    deadlines: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """The JSON body of a message to post; a text over the relay's limit is refused here.

    ``deadlines`` holds ``reply_by_s`` and ``ttl_s``; each is sent only when set, so a relay
    that predates them still takes the message. A text over 64 KiB is fine: the relay stores it
    as a text attachment.

    Raises:
        TooLarge: the text is over :data:`relay_core.wire.MAX_SENT_TEXT_BYTES`.
    """
    size = len(text.encode("utf-8"))
    if size > wire.MAX_SENT_TEXT_BYTES:
        raise TooLarge(
            f"the text is {size} bytes; the limit is {wire.MAX_SENT_TEXT_BYTES} bytes: "
            "send it as a file instead"
        )
    body: dict[str, Any] = {
        "text": text,
        "to": list(to),
        "reply_to": reply_to,
        "attachments": [dict(a) for a in attachments],
    }
    body.update({k: v for k, v in (deadlines or {}).items() if v is not None})
    return body


def identity_headers(client_id: str | None, token: str | None) -> dict[str, str]:
    """The headers every request carries: our User-Agent, client id and bearer token."""
    headers = {"User-Agent": USER_AGENT}
    if client_id:
        headers[wire.CLIENT_ID_HEADER] = client_id
    if token:
        headers[wire.AUTHORIZATION_HEADER] = wire.BEARER_PREFIX + token
    return headers


class _ConnectFailed(Exception):
    """No connection: refused, timed out, or the host name did not resolve."""


@dataclass
class JsonClient:
    """JSON calls to an ``http://`` relay, one connection per call, no models.

    Raises what RelayClient raises for the same answers (see the module's rules).
    """

    base_url: str
    headers: Mapping[str, str]
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    backoff_s: float = RETRY_BACKOFF_S

    @classmethod
    def for_config(cls, config: ClientConfig) -> JsonClient | None:
        """A client for config.toml's relay, or None when it is not plain ``http://``."""
        if urlsplit(config.relay_url).scheme != "http":
            return None
        return cls(config.relay_url, identity_headers(config.client_id, config.token or None))

    def send_message(
        self,
        session: str,
        text: str,
        *,
        to: Sequence[str] = (),
        reply_to: int | None = None,
        deadlines: Mapping[str, float | None] | None = None,
    ) -> dict[str, Any]:
        """Post a message (sent once); the relay's receipt, ``{"id", "session", ...}``."""
        body = message_body(text, to, reply_to, deadlines=deadlines)
        receipt = self.call("POST", wire.session_messages_path(session), body)
        if not isinstance(receipt, dict) or not isinstance(receipt.get("id"), int):
            raise RelayError(f"unexpected answer from the relay: {str(receipt)[:200]}")
        return receipt

    def get_message(self, message_id: int) -> Any:
        """One message we can read, by id, as the relay's JSON."""
        return self.call("GET", wire.message_path(message_id))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send one JSON request (retrying idempotent ones); the answer's JSON."""
        tries = attempts(method, self.retries)
        for attempt in range(1, tries + 1):
            try:
                status, reason, retry_after, content = self._exchange(method, path, body)
            except _ConnectFailed as failed:
                if attempt < tries:
                    time.sleep(retry_delay(self.backoff_s, attempt))
                    continue
                cause = failed.__cause__
                raise unreachable(
                    self.base_url,
                    str(cause),
                    connect_timed_out=isinstance(cause, TimeoutError),
                    connect_timeout_s=self.connect_timeout_s,
                ) from None
            if status == 503 and attempt < tries:
                time.sleep(retry_delay(self.backoff_s, attempt, retry_after))
                continue
            if status >= 400:
                raise error_of(status, reason, content, self.base_url)
            try:
                return json.loads(content) if content else None
            except ValueError:
                raise RelayError(
                    f"the relay answered {method} {self.base_url}{path} with something that "
                    f"is not JSON: {content[:120]!r}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _exchange(self, method: str, path: str, body: Any) -> tuple[int, str, str | None, bytes]:
        """One request on a new connection: status, reason, Retry-After and body."""
        url = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(
            url.hostname or "", url.port or 80, timeout=self.connect_timeout_s
        )
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            try:
                connection.connect()
            except OSError as exc:  # refused, unreachable, timed out, no such host
                raise _ConnectFailed() from exc
            assert connection.sock is not None
            connection.sock.settimeout(self.read_timeout_s)
            connection.request(method, url.path + path, body=payload, headers=headers)
            response = connection.getresponse()
            return (
                response.status,
                response.reason,
                response.getheader("Retry-After"),
                (response.read()),
            )
        except TimeoutError:
            raise no_answer(self.base_url, self.read_timeout_s) from None
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"the request to {self.base_url}{path} failed: {exc}") from None
        finally:
            connection.close()

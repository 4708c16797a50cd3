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
``agent-relay send`` uses to start fast; :mod:`relay_client.api.connection` applies them to each
request. The calls are grouped by feature, one mixin a module:

- :mod:`~relay_client.api.relay`: health, clock skew, whoami, status, peers;
- :mod:`~relay_client.api.sessions`: sessions and the roles held in them;
- :mod:`~relay_client.api.messages`: reading, sending, read positions, delivery state, search;
- :mod:`~relay_client.api.files`: blobs streamed in constant memory, downloads resumed;
- :mod:`~relay_client.api.tasks`: task hand-offs;
- :mod:`~relay_client.api.approvals`: approvals and our settings on the relay.
"""

from __future__ import annotations

from relay_client.api.approvals import ApprovalsMixin
from relay_client.api.connection import LONG_POLL_MARGIN_S, Connection
from relay_client.api.files import (
    TRANSFER_CHUNK_BYTES,
    DigestMismatch,
    Download,
    FilesMixin,
    ProgressCallback,
    UploadResult,
)
from relay_client.api.messages import MessagesMixin
from relay_client.api.relay import RelayMixin
from relay_client.api.sessions import SessionsMixin
from relay_client.api.tasks import TasksMixin
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
    is_outage,
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


class RelayClient(
    RelayMixin,
    SessionsMixin,
    MessagesMixin,
    FilesMixin,
    TasksMixin,
    ApprovalsMixin,
    Connection,
):
    """The relay's HTTP API as typed methods; one instance keeps one connection pool.

    Every method raises the :class:`relay_core.RelayError` subclass of the relay's answer
    (``NotFound``, ``Unauthorized``, ...), or :class:`relay_core.Unavailable` when the relay
    cannot be reached.
    """

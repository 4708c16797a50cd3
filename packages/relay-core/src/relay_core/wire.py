"""The contract between relay and clients: header names, route paths and limits.

Server and client both build their URLs and checks from here, so the two cannot drift apart.
Limits carry their unit in their name.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from relay_core.blobs import validate_digest
from relay_core.names import RELAY_SENDER as RELAY_SENDER  # defined where it is reserved
from relay_core.names import validate_session_name

# --- identity -------------------------------------------------------------------------------
CLIENT_ID_HEADER: Final = "X-Client-Id"
AUTHORIZATION_HEADER: Final = "Authorization"
BEARER_PREFIX: Final = "Bearer "

# --- network defaults -----------------------------------------------------------------------
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 7878

# --- routes ---------------------------------------------------------------------------------
HEALTH_PATH: Final = "/healthz"
MCP_PATH: Final = "/mcp"
API_PREFIX: Final = "/api/v1"
BLOBS_PREFIX: Final = "/blobs"
STATUS_PATH: Final = f"{API_PREFIX}/status"
WHOAMI_PATH: Final = f"{API_PREFIX}/whoami"
SESSIONS_PATH: Final = f"{API_PREFIX}/sessions"
PEERS_PATH: Final = f"{API_PREFIX}/peers"
MESSAGES_PATH: Final = f"{API_PREFIX}/messages"
JOIN_PATH: Final = f"{API_PREFIX}/join"
"""Exchange a join code for a token; with :data:`JOIN_CA_PATH`, the API routes needing no token."""
JOIN_CA_PATH: Final = f"{API_PREFIX}/join/ca"
"""The relay's own CA certificate (PEM), which clients pin before they send a join code."""


def session_path(name: str) -> str:
    """``/api/v1/sessions/{name}``; the name is validated so it can never escape the route."""
    return f"{SESSIONS_PATH}/{quote(validate_session_name(name), safe='')}"


def session_messages_path(name: str) -> str:
    """``/api/v1/sessions/{name}/messages``: GET pages (and long-polls), POST sends."""
    return f"{session_path(name)}/messages"


def session_invite_path(name: str) -> str:
    """``/api/v1/sessions/{name}/invite``: POST adds participants."""
    return f"{session_path(name)}/invite"


def session_leave_path(name: str) -> str:
    """``/api/v1/sessions/{name}/leave``: POST removes the caller."""
    return f"{session_path(name)}/leave"


def session_read_path(name: str) -> str:
    """``/api/v1/sessions/{name}/read``: POST moves the caller's read position."""
    return f"{session_path(name)}/read"


def message_path(message_id: int) -> str:
    """``/api/v1/messages/{id}``: one message the caller can read."""
    return f"{MESSAGES_PATH}/{int(message_id)}"


def message_status_path(message_id: int) -> str:
    """``/api/v1/messages/{id}/status``: per recipient, stored, delivered or read."""
    return f"{message_path(message_id)}/status"


def blob_path(sha256: str) -> str:
    """``/blobs/{sha256}``: PUT uploads, HEAD checks, GET downloads (with Range)."""
    return f"{BLOBS_PREFIX}/{validate_digest(sha256)}"


# --- limits ---------------------------------------------------------------------------------
MAX_TEXT_BYTES: Final = 64 * 1024
"""A message's text as stored inline, UTF-8 encoded; a longer text sent is stored as a text
attachment and the message carries an excerpt of it."""
MAX_SENT_TEXT_BYTES: Final = 8 * 1024 * 1024
"""The most text one send may carry, UTF-8 encoded (the default ``inline_file_bytes``: a relay
configured lower refuses past its own limit). Longer text goes as a file (``send-file``)."""
MAX_DEADLINE_S: Final = 30 * 24 * 3600
"""The longest ``reply_by_s`` or ``ttl_s`` a message may be given: 30 days."""


def deadlines_problem(reply_by_s: float | None, ttl_s: float | None) -> str | None:
    """Why a message may not have these deadlines together, or None: a reply-by time after the
    expiry could never be met (the relay refuses it; a client checks before a long upload)."""
    if reply_by_s is not None and ttl_s is not None and reply_by_s > ttl_s:
        return (
            f"reply_by_s ({reply_by_s:g}) must not be after the message expires (ttl_s"
            f" {ttl_s:g}): nobody could read it by then"
        )
    return None


MAX_DESCRIPTION_CHARS: Final = 1000
MAX_PARTICIPANTS: Final = 256
MAX_RECIPIENTS: Final = MAX_PARTICIPANTS
MAX_ATTACHMENTS: Final = 32
MAX_MIME_CHARS: Final = 255
MAX_MESSAGE_ID: Final = 2**63 - 1
"""Largest message id (a signed 64-bit SQLite INTEGER); ids, cursors and read positions above
it are invalid input, not a database error."""
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 500
DEFAULT_WAIT_S: Final = 30.0
MAX_WAIT_S: Final = 300.0
"""Long-poll bound; the MCP SDK client's SSE read timeout is 300 s."""
DEFAULT_MAX_BLOB_BYTES: Final = 4 * 1024**3
DEFAULT_BLOB_QUOTA_BYTES: Final = 64 * 1024**3
DEFAULT_INLINE_FILE_BYTES: Final = 8 * 1024 * 1024
"""Largest file the MCP ``upload_file``/``download_file`` tools move inline as base64."""
MAX_JSON_BODY_BYTES: Final = 1024 * 1024
"""Largest JSON request body the HTTP API reads."""

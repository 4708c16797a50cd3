"""What authentication leaves in each request's ASGI scope for the layers after it.

The auth middleware (:mod:`relay_server.middleware.auth`) sets these keys once it let a request
in; the access log, the rate limit, the MCP session table, the inline-upload budget and the
adapters read them. Kept apart from auth so that reading who called does not depend on how they were
checked.
"""

from __future__ import annotations

from typing import Final

CALLER_SCOPE_KEY: Final = "relay.caller"
"""The authenticated caller's client id."""
TOKEN_HASH_SCOPE_KEY: Final = "relay.token_hash"
"""Where the hash of the per-client token a request got in with is left (per-client mode)."""

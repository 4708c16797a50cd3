"""Who is calling: bearer tokens and ``X-Client-Id``, for every route alike.

Three modes (see docs/http-api.md):

- ``open``: no token; the identity is ``X-Client-Id``.
- ``shared``: one token for everybody; the identity is ``X-Client-Id``.
- ``per-client``: each client has its own token, stored hashed; the token *is* the identity and a
  different ``X-Client-Id`` is refused.

:class:`AuthMiddleware` runs in front of MCP, the HTTP API and blobs (FastMCP's own ``auth=``
would guard only ``/mcp``), so a bad token gets the same 401 everywhere. It leaves the resolved
client id in the ASGI scope under :data:`CALLER_SCOPE_KEY`, where adapters read it, and as the
scope's ``user``, which the MCP SDK uses to bind a stateful MCP session to the client that opened
it: another client presenting that ``Mcp-Session-Id`` gets 404, as if it did not exist.

The web view's pages and files need no credentials; its other ``/ui/`` routes also take the
login cookie of :mod:`relay_server.http.ui_logins` in place of the two headers (nowhere else),
and they never count as the client calling (``on_caller``): a person watching is not the agent.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Final

import anyio
from fastmcp.server.auth import AccessToken
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay_core import Forbidden, RelayError, Unauthorized, validate_client_identity
from relay_core.models import AuthMode
from relay_core.wire import (
    BEARER_PREFIX,
    CLIENT_ID_HEADER,
    HEALTH_PATH,
    JOIN_CA_PATH,
    JOIN_PATH,
)
from relay_server.config import hash_token
from relay_server.http.errors import send_error
from relay_server.http.ui_logins import UiLogins, cookie_of, is_ui_data_path, is_ui_public_path
from relay_server.request_scope import CALLER_SCOPE_KEY, TOKEN_HASH_SCOPE_KEY

if TYPE_CHECKING:
    from relay_server.revocation import ParkedRequest, Revocation

PUBLIC_PATHS: Final = frozenset({HEALTH_PATH, JOIN_PATH, JOIN_CA_PATH})
"""Routes anyone may call: ``/healthz``; the join-code exchange, which is how a machine without a
token gets one (the code is its credential; wrong ones are counted and limited); and the relay's
CA certificate, which is public and which that machine pins first."""


def _is_public(path: str) -> bool:
    """Routes anyone may call: ``/healthz``, and the web view's page and files."""
    return path in PUBLIC_PATHS or is_ui_public_path(path)


class Authenticator:
    """Turns the two identity headers into a client id, or raises.

    Per-client tokens once found in the database are remembered, so most requests never query
    it. ``tokens_version`` returns something that changes whenever tokens change (the state of
    the :class:`~relay_server.token_marker.TokenMarker`); it is looked at on every per-client
    request, and a new value forgets every remembered token, so a replaced or removed token is
    refused from the next request on, and ``on_tokens_changed`` is called (from the thread that
    noticed) so what the old token still holds open can be ended.
    """

    def __init__(
        self,
        mode: AuthMode,
        *,
        shared_token_hash: str | None = None,
        lookup_token_hash: Callable[[str], str | None] | None = None,
        tokens_version: Callable[[], Hashable] | None = None,
        on_tokens_changed: Callable[[], None] | None = None,
    ) -> None:
        if mode == "shared" and not shared_token_hash:
            raise ValueError("shared mode needs a token hash")
        if mode == "per-client" and lookup_token_hash is None:
            raise ValueError("per-client mode needs a token lookup")
        self.mode = mode
        self._shared_hash = shared_token_hash
        self._lookup = lookup_token_hash
        self._tokens_version = tokens_version
        self.on_tokens_changed = on_tokens_changed
        self._known: dict[str, str] = {}
        self._known_version: Hashable = tokens_version() if tokens_version else None
        self._lock = threading.Lock()  # resolve() runs on the loop and in worker threads

    def resolve(self, authorization: str | None, client_id: str | None) -> str:
        """The caller's client id.

        Raises:
            Unauthorized: the token is missing or wrong.
            Forbidden: ``X-Client-Id`` names another client than a per-client token.
            InvalidInput: ``X-Client-Id`` is missing or not a valid name where it is needed,
                or the caller's id is one the relay uses itself (``relay``).
        """
        if self.mode == "open":
            return self._header_identity(client_id)
        token = self._bearer(authorization)
        token_hash = hash_token(token)
        if self.mode == "shared":
            if not hmac.compare_digest(token_hash, self._shared_hash or ""):
                raise Unauthorized("the bearer token is not valid for this relay")
            return self._header_identity(client_id)
        owner = self._owner(token_hash)
        if owner is None:
            raise Unauthorized("the bearer token is not valid for this relay")
        return self._claimed_by(owner, client_id)

    def resolve_known(self, authorization: str | None, client_id: str | None) -> str | None:
        """:meth:`resolve` without querying the database: None where that would be needed.

        The event loop calls this; only a per-client token not remembered yet (or no longer,
        after tokens changed) is left to :meth:`resolve` in a worker thread.
        """
        if self.mode != "per-client":
            return self.resolve(authorization, client_id)
        token_hash = hash_token(self._bearer(authorization))
        self._revalidate()
        owner = self._known.get(token_hash)
        return None if owner is None else self._claimed_by(owner, client_id)

    @staticmethod
    def _claimed_by(owner: str, client_id: str | None) -> str:
        if client_id is not None and client_id != owner:
            raise Forbidden(
                f"{CLIENT_ID_HEADER} {client_id!r} does not match the client this token belongs "
                f"to ({owner!r})"
            )
        # A token given to a reserved id before it was reserved does not make it the relay.
        return validate_client_identity(owner)

    def forget(self) -> None:
        """Drop every remembered per-client token (the next request of each queries again)."""
        with self._lock:
            self._known.clear()
            self._known_version = self._tokens_version() if self._tokens_version else None

    def _revalidate(self) -> None:
        """Forget remembered tokens when the tokens version moved since they were found."""
        if self._tokens_version is not None and self._tokens_version() != self._known_version:
            self.forget()
            if self.on_tokens_changed is not None:
                self.on_tokens_changed()

    def _owner(self, token_hash: str) -> str | None:
        self._revalidate()
        owner = self._known.get(token_hash)
        if owner is None and self._lookup is not None:
            version = self._known_version
            owner = self._lookup(token_hash)
            with self._lock:
                # A lookup that raced a token change may have read the old row: keep it only
                # if no change was noticed meanwhile (a later one is noticed by its version).
                if owner is not None and self._known_version == version:
                    self._known[token_hash] = owner
        return owner

    @staticmethod
    def _bearer(authorization: str | None) -> str:
        if not authorization:
            raise Unauthorized(
                "this relay needs a token: send 'Authorization: Bearer <token>' "
                "(`agent-relay onboard --token TOKEN`)"
            )
        if not authorization.startswith(BEARER_PREFIX) or not authorization[7:].strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return authorization[len(BEARER_PREFIX) :].strip()

    @staticmethod
    def _header_identity(client_id: str | None) -> str:
        if not client_id:
            raise Unauthorized(
                f"send your client id in the {CLIENT_ID_HEADER} header "
                "(agent-relay onboard --client-id ...)"
            )
        return validate_client_identity(client_id)


class AuthMiddleware:
    """Resolves the caller of every HTTP request but :data:`PUBLIC_PATHS`, or answers 401/403.

    In per-client mode it leaves the token's hash in the scope (:data:`TOKEN_HASH_SCOPE_KEY`),
    and with ``revocation`` a ``GET`` that has not started answering when its token is replaced
    or removed (a parked long-poll) is answered ``401`` instead (a ``POST`` or ``PUT`` is not cut:
    a write could be done and yet reported refused).
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        on_caller: Callable[[str], None] | None = None,
        touch_due: Callable[[str], bool] | None = None,
        revocation: Revocation | None = None,
        ui_logins: UiLogins | None = None,
    ) -> None:
        self.app = app
        self.ui_logins = ui_logins
        self.authenticator = authenticator
        self.on_caller = on_caller
        self.touch_due = touch_due
        self.revocation = revocation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization")
        client_header = headers.get(CLIENT_ID_HEADER.lower())
        ui = self.ui_logins is not None and is_ui_data_path(scope["path"])
        if ui and self.ui_logins is not None and authorization is None:
            key = cookie_of(headers.get("cookie"))
            login = self.ui_logins.get(key) if key else None
            if login is not None:
                authorization, client_header = login.authorization, login.client_id
        token_hash = self._token_hash(authorization)
        # A GET is tracked before its token is checked, so a token change that comes at any
        # point after that check cannot miss it (see relay_server.revocation).
        parked = (
            self.revocation.park(token_hash)
            if self.revocation is not None and token_hash is not None and scope["method"] == "GET"
            else None
        )
        try:
            await self._serve(
                authorization, client_header, token_hash, parked, scope, receive, send, ui
            )
        finally:
            if parked is not None and self.revocation is not None:
                self.revocation.unpark(parked)

    def _token_hash(self, authorization: str | None) -> str | None:
        """The hash of a well-formed per-client bearer token, else None."""
        if self.authenticator.mode != "per-client":
            return None
        try:
            return hash_token(Authenticator._bearer(authorization))
        except Unauthorized:
            return None

    async def _serve(
        self,
        authorization: str | None,
        client_header: str | None,
        token_hash: str | None,
        parked: ParkedRequest | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        ui: bool = False,
    ) -> None:
        try:
            caller = self.authenticator.resolve_known(authorization, client_header)
            if caller is None:  # the database must be asked: not on the event loop
                caller = await anyio.to_thread.run_sync(
                    self.authenticator.resolve, authorization, client_header
                )
        except RelayError as error:
            await send_error(scope, send, error)
            return
        scope[CALLER_SCOPE_KEY] = caller
        # The raw token stays here: nothing downstream needs it, and what is not kept is not
        # logged.
        scope["user"] = AuthenticatedUser(AccessToken(token="", client_id=caller, scopes=[]))
        if token_hash is not None:
            scope[TOKEN_HASH_SCOPE_KEY] = token_hash
        on_caller = None if ui else self.on_caller
        if on_caller is not None and (self.touch_due is None or self.touch_due(caller)):
            await anyio.to_thread.run_sync(on_caller, caller)
        if parked is None:
            await self.app(scope, receive, send)
            return
        parked.client_id = caller

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                parked.answering = True
            await send(message)

        with parked.cancel:  # cancelled by the sweep; at once if that came before this point
            await self.app(scope, receive, watch)
        if parked.revoked and not parked.answering:
            await send_error(
                scope,
                send,
                Unauthorized(
                    "the bearer token was replaced or removed while this request waited; "
                    "ask the relay's operator for the new one"
                ),
            )

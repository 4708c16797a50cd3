"""The Authenticator and AuthMiddleware on their own, rule by rule, with no relay around them.

test_auth.py and test_security.py prove the same rules through a running relay; these tests pin
each condition exactly (which header, which prefix, which mode, when the token cache is trusted)
so a mutation run of auth.py (tests/mutation/run.py auth) fails on every changed comparison, and
does so in milliseconds rather than a relay start per mutant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Hashable
from typing import Any

import anyio
import pytest

from relay_core import Forbidden, InvalidInput, RelayError, Unauthorized
from relay_server.config import hash_token
from relay_server.http.errors import send_error
from relay_server.middleware.auth import Authenticator, AuthMiddleware
from relay_server.request_scope import CALLER_SCOPE_KEY
from relay_server.revocation import Revocation

TOKEN = "s3cret-token"


class Tokens:
    """A per-client token table that counts its lookups and has a version, like the database."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.by_hash = {hash_token(token): owner for token, owner in owners.items()}
        self.lookups = 0
        self.version = 0
        self.during_lookup: Callable[[], None] | None = None

    def lookup(self, token_hash: str) -> str | None:
        self.lookups += 1
        if self.during_lookup is not None:
            self.during_lookup()
        return self.by_hash.get(token_hash)

    def current_version(self) -> Hashable:
        # A new tuple on every call, equal while nothing changed: what TokenMarker.state builds
        # from a stat. (An int this small is one shared object, which 'is' would also match.)
        return (0, self.version)


def per_client(tokens: Tokens) -> Authenticator:
    return Authenticator(
        "per-client", lookup_token_hash=tokens.lookup, tokens_version=tokens.current_version
    )


def shared() -> Authenticator:
    return Authenticator("shared", shared_token_hash=hash_token(TOKEN))


def test_each_mode_refuses_to_start_without_what_it_checks_against():
    with pytest.raises(ValueError, match="shared mode needs a token hash"):
        Authenticator("shared")
    with pytest.raises(ValueError, match="shared mode needs a token hash"):
        Authenticator("shared", shared_token_hash="")
    with pytest.raises(ValueError, match="per-client mode needs a token lookup"):
        Authenticator("per-client")
    assert Authenticator("open").mode == "open"
    assert Authenticator("per-client", lookup_token_hash=lambda _: None).mode == "per-client"


def test_open_mode_takes_the_header_and_ignores_any_token():
    auth = Authenticator("open")
    assert auth.resolve(None, "alpha") == "alpha"
    assert auth.resolve("Bearer whatever", "alpha") == "alpha"
    assert auth.resolve_known(None, "alpha") == "alpha"
    with pytest.raises(Unauthorized, match="X-Client-Id"):
        auth.resolve(None, None)
    with pytest.raises(Unauthorized, match="X-Client-Id"):
        auth.resolve(None, "")
    with pytest.raises(InvalidInput, match="client id"):
        auth.resolve(None, "../alpha")


def test_shared_mode_needs_the_one_token_and_then_takes_the_header():
    auth = shared()
    assert auth.resolve(f"Bearer {TOKEN}", "alpha") == "alpha"
    assert auth.resolve_known(f"Bearer {TOKEN}", "beta") == "beta"
    with pytest.raises(Unauthorized, match="not valid for this relay"):
        auth.resolve("Bearer wrong", "alpha")
    with pytest.raises(Unauthorized, match="not valid for this relay"):
        auth.resolve_known("Bearer wrong", "alpha")
    with pytest.raises(Unauthorized, match="needs a token"):
        auth.resolve(None, "alpha")
    with pytest.raises(Unauthorized, match="X-Client-Id"):
        auth.resolve(f"Bearer {TOKEN}", None)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer    ",
        f"bearer {TOKEN}",
        f"Basic {TOKEN}",
        TOKEN,
        f" Bearer {TOKEN}",
    ],
)
def test_only_a_bearer_header_with_a_token_is_read(authorization):
    with pytest.raises(Unauthorized, match="must be 'Bearer <token>'"):
        shared().resolve(authorization, "alpha")


def test_an_empty_authorization_header_asks_for_a_token():
    with pytest.raises(Unauthorized, match="needs a token"):
        shared().resolve("", "alpha")


def test_a_one_character_token_and_surrounding_spaces_are_read_exactly():
    auth = Authenticator("shared", shared_token_hash=hash_token("x"))
    assert auth.resolve("Bearer x", "alpha") == "alpha"
    assert auth.resolve("Bearer   x  ", "alpha") == "alpha"
    with pytest.raises(Unauthorized, match="not valid"):
        auth.resolve("Bearer xx", "alpha")


def test_a_per_client_token_is_the_identity_and_another_header_is_forbidden():
    tokens = Tokens({TOKEN: "alpha"})
    auth = per_client(tokens)
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    assert auth.resolve(f"Bearer {TOKEN}", "alpha") == "alpha"
    for other in ("beta", "aardvark"):  # sorting after the owner and before it
        with pytest.raises(Forbidden, match="does not match") as caught:
            auth.resolve(f"Bearer {TOKEN}", other)
        assert caught.value.http_status == 403
    with pytest.raises(Unauthorized, match="not valid for this relay"):
        auth.resolve("Bearer unknown", "alpha")
    with pytest.raises(Unauthorized, match="needs a token"):
        auth.resolve(None, "alpha")


def test_a_found_token_is_remembered_so_the_event_loop_needs_no_lookup():
    tokens = Tokens({TOKEN: "alpha"})
    auth = per_client(tokens)
    assert auth.resolve_known(f"Bearer {TOKEN}", None) is None  # not known yet: ask in a thread
    assert tokens.lookups == 0
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    assert tokens.lookups == 1
    assert auth.resolve_known(f"Bearer {TOKEN}", None) == "alpha"
    with pytest.raises(Forbidden):
        auth.resolve_known(f"Bearer {TOKEN}", "beta")
    assert tokens.lookups == 1


def test_an_unknown_token_is_not_remembered():
    tokens = Tokens({})
    auth = per_client(tokens)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            auth.resolve("Bearer nobody", None)
    assert tokens.lookups == 2
    assert auth.resolve_known("Bearer nobody", None) is None


def test_a_changed_token_version_forgets_every_remembered_token():
    tokens = Tokens({TOKEN: "alpha"})
    auth = per_client(tokens)
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    tokens.by_hash.clear()  # the token was removed ...
    tokens.version += 1  # ... and the marker moved
    assert auth.resolve_known(f"Bearer {TOKEN}", None) is None
    with pytest.raises(Unauthorized):
        auth.resolve(f"Bearer {TOKEN}", None)
    assert tokens.lookups == 2


def test_an_unchanged_version_keeps_remembered_tokens():
    tokens = Tokens({TOKEN: "alpha"})
    auth = per_client(tokens)
    auth.resolve(f"Bearer {TOKEN}", None)
    tokens.by_hash.clear()  # changed behind the marker's back: still trusted until it moves
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    assert tokens.lookups == 1


def test_forget_drops_remembered_tokens_and_takes_the_current_version():
    tokens = Tokens({TOKEN: "alpha"})
    auth = per_client(tokens)
    auth.resolve(f"Bearer {TOKEN}", None)
    tokens.version += 1
    auth.forget()
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    assert tokens.lookups == 2
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"  # remembered again, same version
    assert tokens.lookups == 2


def test_without_a_version_remembered_tokens_are_kept_until_forgotten():
    tokens = Tokens({TOKEN: "alpha"})
    auth = Authenticator("per-client", lookup_token_hash=tokens.lookup)
    auth.resolve(f"Bearer {TOKEN}", None)
    auth.resolve(f"Bearer {TOKEN}", None)
    assert tokens.lookups == 1
    auth.forget()
    auth.resolve(f"Bearer {TOKEN}", None)
    assert tokens.lookups == 2


def test_a_lookup_that_raced_a_token_change_is_used_once_but_not_remembered():
    tokens = Tokens({TOKEN: "alpha"})
    auth = per_client(tokens)

    def change_tokens() -> None:
        tokens.version += 1
        auth.forget()  # what the next request would do on noticing the new version

    tokens.during_lookup = change_tokens
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    tokens.during_lookup = None
    assert auth.resolve_known(f"Bearer {TOKEN}", None) is None
    assert auth.resolve(f"Bearer {TOKEN}", None) == "alpha"
    assert tokens.lookups == 2
    assert auth.resolve_known(f"Bearer {TOKEN}", None) == "alpha"


async def answer(error: RelayError, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await send_error({"type": "http"}, send, error, headers)
    return sent


def test_an_error_answer_is_json_with_its_status_and_length():
    start, body = anyio.run(answer, Forbidden("not yours"), {"retry-after": "3"})
    assert start["type"] == "http.response.start"
    assert start["status"] == 403
    payload = body["body"]
    assert json.loads(payload)["error"]["code"] == "forbidden"
    assert start["headers"] == [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", b"3"),
    ]


def test_only_a_401_answer_says_how_to_authenticate():
    start, _ = anyio.run(answer, Unauthorized("no token"))
    assert start["status"] == 401
    assert (b"www-authenticate", b'Bearer realm="agent-relay"') in start["headers"]
    start, _ = anyio.run(answer, InvalidInput("bad"))
    assert all(name != b"www-authenticate" for name, _ in start["headers"])


class Recorder:
    """The app behind the middleware: records the scopes that reach it."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)


def scope_of(path: str, headers: dict[str, str], kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "method": "GET",
        "path": path,
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
    }


async def empty_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def call(
    middleware: AuthMiddleware, path: str, headers: dict[str, str], kind: str = "http"
) -> list[dict[str, Any]]:
    scope = scope_of(path, headers, kind)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(middleware, scope, empty_body, send)
    return sent


def test_the_middleware_passes_health_checks_and_non_http_scopes_without_a_token():
    app = Recorder()
    middleware = AuthMiddleware(app, shared())
    assert call(middleware, "/healthz", {}) == []
    assert call(middleware, "/", {}, kind="lifespan") == []
    assert len(app.scopes) == 2
    assert CALLER_SCOPE_KEY not in app.scopes[0]
    sent = call(middleware, "/healthz/x", {})
    assert sent[0]["status"] == 401
    assert len(app.scopes) == 2


def test_the_middleware_reads_headers_in_any_case_and_leaves_the_caller_in_the_scope():
    app = Recorder()
    middleware = AuthMiddleware(app, shared())
    sent = call(middleware, "/api", {"AUTHORIZATION": f"Bearer {TOKEN}", "x-client-id": "alpha"})
    assert sent == []
    (scope,) = app.scopes
    assert scope[CALLER_SCOPE_KEY] == "alpha"
    assert scope["user"].access_token.client_id == "alpha"
    assert scope["user"].access_token.token == ""


def test_the_middleware_answers_refusals_itself():
    app = Recorder()
    middleware = AuthMiddleware(app, per_client(Tokens({TOKEN: "alpha"})))
    assert call(middleware, "/api", {"authorization": "Bearer nope"})[0]["status"] == 401
    forbidden = {"authorization": f"Bearer {TOKEN}", "x-client-id": "beta"}
    assert call(middleware, "/api", forbidden)[0]["status"] == 403
    assert app.scopes == []
    assert call(middleware, "/api", {"authorization": f"Bearer {TOKEN}"}) == []
    assert app.scopes[0][CALLER_SCOPE_KEY] == "alpha"


def test_the_middleware_reports_the_caller_when_a_touch_is_due():
    seen: list[str] = []
    due = {"alpha": True, "beta": False}
    headers = {"authorization": f"Bearer {TOKEN}"}
    always = AuthMiddleware(Recorder(), shared(), on_caller=seen.append)
    call(always, "/api", {**headers, "x-client-id": "alpha"})
    assert seen == ["alpha"]
    gated = AuthMiddleware(Recorder(), shared(), on_caller=seen.append, touch_due=due.__getitem__)
    call(gated, "/api", {**headers, "x-client-id": "beta"})
    call(gated, "/api", {**headers, "x-client-id": "alpha"})
    assert seen == ["alpha", "alpha"]


class NoSessions:
    """A session table without MCP sessions, for a Revocation that tracks requests only."""

    closed_revoked = 0

    def records(self) -> list[Any]:
        return []

    async def close(self, session_id: str) -> bool:
        return False


def requests_revocation(tokens: Tokens) -> Revocation:
    return Revocation(NoSessions(), tokens_version=tokens.current_version, owner_of=tokens.lookup)


def test_a_get_that_has_finished_is_not_answered_again_by_a_later_sweep():
    tokens = Tokens({TOKEN: "alpha"})
    revocation = requests_revocation(tokens)
    middleware = AuthMiddleware(Recorder(), per_client(tokens), revocation=revocation)

    async def ignore(message: dict[str, Any]) -> None:
        pass

    async def scenario() -> None:
        revocation.bind(asyncio.get_running_loop())
        await middleware(
            scope_of("/api/v1/wait", {"Authorization": f"Bearer {TOKEN}"}), empty_body, ignore
        )
        tokens.by_hash.clear()  # the token is removed after the GET finished
        tokens.version += 1
        revocation.tokens_changed()
        await revocation.settled()

    asyncio.run(scenario())
    assert revocation.sweeps == 1
    assert revocation.answered == 0  # the finished GET was no longer tracked


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
def test_only_a_get_is_cut_when_its_token_goes_while_it_runs(method):
    # A write let in before the change finishes: it could be done and yet be reported refused.
    tokens = Tokens({TOKEN: "alpha"})
    revocation = requests_revocation(tokens)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        tokens.by_hash.clear()  # the token is removed while the request runs
        tokens.version += 1
        revocation.tokens_changed()
        await revocation.settled()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    middleware = AuthMiddleware(app, per_client(tokens), revocation=revocation)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def scenario() -> None:
        revocation.bind(asyncio.get_running_loop())
        scope = scope_of("/api/v1/x", {"Authorization": f"Bearer {TOKEN}"})
        await middleware({**scope, "method": method}, empty_body, send)

    asyncio.run(scenario())
    assert sent[0]["status"] == (401 if method == "GET" else 200)

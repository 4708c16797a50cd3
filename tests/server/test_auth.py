"""The auth matrix: open, shared and per-client modes against every route the relay serves.

The route table below is checked against the routes the built app really has, so a new route
cannot be added without being put through the matrix. Tokens, good and bad, must never show up in
an answer or in the relay's log (run at debug level, where libraries log the most).
"""

import os
import subprocess
import sys

import anyio
import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.shared.exceptions import MCPError
from starlette.routing import Mount, Route

from relay_server.app import build_relay
from relay_server.config import ServerConfig, hash_token

DIGEST = "0" * 64
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "auth-matrix", "version": "1"},
    },
}
EVERY_ROUTE: dict[tuple[str, str], tuple[str, object]] = {
    ("GET", "/healthz"): ("/healthz", None),
    ("POST", "/api/v1/join"): ("/api/v1/join", {"code": "AAAA-AAAA-AAAA"}),
    ("GET", "/api/v1/join/ca"): ("/api/v1/join/ca", None),
    ("GET", "/api/v1/status"): ("/api/v1/status", None),
    ("GET", "/api/v1/whoami"): ("/api/v1/whoami", None),
    ("GET", "/api/v1/sessions"): ("/api/v1/sessions", None),
    ("POST", "/api/v1/sessions"): ("/api/v1/sessions", {"name": "matrix"}),
    ("GET", "/api/v1/sessions/{name}"): ("/api/v1/sessions/matrix", None),
    ("DELETE", "/api/v1/sessions/{name}"): ("/api/v1/sessions/nobodys", None),
    ("POST", "/api/v1/sessions/{name}/invite"): (
        "/api/v1/sessions/matrix/invite",
        {"clients": ["beta"]},
    ),
    ("POST", "/api/v1/sessions/{name}/leave"): ("/api/v1/sessions/nobodys/leave", None),
    ("GET", "/api/v1/sessions/{name}/messages"): ("/api/v1/sessions/matrix/messages", None),
    ("POST", "/api/v1/sessions/{name}/messages"): (
        "/api/v1/sessions/matrix/messages",
        {"text": "hello"},
    ),
    ("POST", "/api/v1/sessions/{name}/read"): ("/api/v1/sessions/matrix/read", {"up_to_id": 0}),
    ("GET", "/api/v1/messages/{message_id}"): ("/api/v1/messages/1", None),
    ("GET", "/api/v1/messages/{message_id}/status"): ("/api/v1/messages/1/status", None),
    ("GET", "/api/v1/wait"): ("/api/v1/wait?timeout=0", None),
    ("GET", "/api/v1/peers"): ("/api/v1/peers", None),
    ("GET", "/api/v1/search"): ("/api/v1/search?q=matrix", None),
    ("PUT", "/api/v1/sessions/{name}/roles/{role}"): ("/api/v1/sessions/matrix/roles/judge", None),
    ("DELETE", "/api/v1/sessions/{name}/roles/{role}"): (
        "/api/v1/sessions/matrix/roles/judge",
        None,
    ),
    ("POST", "/api/v1/sessions/{name}/tasks"): ("/api/v1/sessions/matrix/tasks", {"title": "t"}),
    ("GET", "/api/v1/tasks"): ("/api/v1/tasks", None),
    ("GET", "/api/v1/tasks/{task_id}"): ("/api/v1/tasks/1", None),
    ("PATCH", "/api/v1/tasks/{task_id}"): ("/api/v1/tasks/1", {"note": "hi"}),
    ("POST", "/api/v1/tasks/{task_id}/claim"): ("/api/v1/tasks/1/claim", {}),
    ("GET", "/api/v1/tasks/{task_id}/wait"): ("/api/v1/tasks/1/wait?timeout=0", None),
    ("GET", "/api/v1/settings"): ("/api/v1/settings", None),
    ("PUT", "/api/v1/settings"): ("/api/v1/settings", {"approvers": []}),
    ("GET", "/api/v1/approvals"): ("/api/v1/approvals", None),
    ("GET", "/api/v1/approvals/{approval_id}"): ("/api/v1/approvals/1", None),
    ("POST", "/api/v1/approvals/{approval_id}/answer"): (
        "/api/v1/approvals/1/answer",
        {"behavior": "deny"},
    ),
    ("HEAD", "/blobs/{sha256}"): (f"/blobs/{DIGEST}", None),
    ("GET", "/blobs/{sha256}"): (f"/blobs/{DIGEST}", None),
    ("PUT", "/blobs/{sha256}"): (f"/blobs/{DIGEST}", b"not these bytes"),
    ("POST", "/mcp"): ("/mcp", INITIALIZE),
    ("GET", "/mcp"): ("/mcp", None),
    ("DELETE", "/mcp"): ("/mcp", None),
    ("GET", "/"): ("/", None),
    ("GET", "/ui"): ("/ui", None),
    ("GET", "/ui/"): ("/ui/", None),
    ("GET", "/ui/static/{name}"): ("/ui/static/app.js", None),
    ("POST", "/ui/login"): ("/ui/login", None),
    ("POST", "/ui/logout"): ("/ui/logout", None),
    ("GET", "/ui/api/overview"): ("/ui/api/overview", None),
    ("GET", "/ui/api/sessions/{name}/messages"): ("/ui/api/sessions/matrix/messages", None),
    # A body the route refuses as invalid: past auth, short of posting (off by default).
    ("POST", "/ui/api/sessions/{name}/messages"): ("/ui/api/sessions/matrix/messages", {}),
    # A session nobody has: answered before any stream starts (an open stream never ends).
    ("GET", "/ui/api/sessions/{name}/events"): ("/ui/api/sessions/nobodys/events", None),
    ("GET", "/ui/api/blobs/{sha256}"): (f"/ui/api/blobs/{DIGEST}", None),
    ("GET", "/api/v1/no-such-route"): ("/api/v1/no-such-route", None),
}
"""Every (method, route) the relay serves, plus a missing one: how to call each."""
WEB_VIEW_FILES = frozenset({"/", "/ui", "/ui/", "/ui/static/{name}"})
"""The web view's page and its files: anyone may load them (its data routes need a login)."""
PUBLIC = frozenset({"/healthz", "/api/v1/join", "/api/v1/join/ca"}) | WEB_VIEW_FILES
"""Routes that need no token: health, how a machine without a token gets one, and the web
view's page and files."""
GUARDED = sorted(key for key in EVERY_ROUTE if key[1] not in PUBLIC)
WRONG_TOKEN = "wrong-token-abcdefghijklmnopqrstuvwxyz"


def served_routes(data_dir) -> set[tuple[str, str]]:
    """(method, path) of every route of a freshly built relay."""
    relay = build_relay(ServerConfig(data_dir=data_dir, token="x" * 32))
    found = set()

    def walk(routes: list, prefix: str = "") -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                for method in route.methods or ("GET", "POST", "DELETE"):
                    found.add((method, prefix + route.path))

    walk(relay.app.app.router.routes)  # inside the /mcp/ trailing-slash shim
    return found


def test_the_matrix_covers_every_route_the_relay_serves(tmp_path):
    # Starlette lets every GET route answer HEAD too: those are not routes of their own.
    served = {(m, p) for m, p in served_routes(tmp_path) if m != "HEAD" or p.startswith("/blobs")}
    assert served == set(EVERY_ROUTE) - {("GET", "/api/v1/no-such-route")}


def call(relay, method: str, path: str, headers: dict[str, str]) -> requests.Response:
    target, body = EVERY_ROUTE[(method, path)]
    headers = {**headers, "Accept": "application/json, text/event-stream"}
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/octet-stream"
        return requests.request(method, relay.url + target, data=body, headers=headers, timeout=10)
    return requests.request(method, relay.url + target, json=body, headers=headers, timeout=10)


def assert_refused(answer: requests.Response, status: int, code: str) -> None:
    where = f"{answer.request.method} {answer.url}"
    assert answer.status_code == status, (where, answer.status_code, answer.text[:200])
    if answer.request.method != "HEAD":
        assert answer.json()["error"]["code"] == code
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def assert_let_in(answer: requests.Response) -> None:
    """Past the auth middleware: whatever the route answers, it is not 401 or 403 or 5xx."""
    where = f"{answer.request.method} {answer.url}"
    assert answer.status_code not in (401, 403), (where, answer.status_code, answer.text[:200])
    assert answer.status_code < 500, (where, answer.text[:200])


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Client-Id": "alpha"},
        {"X-Client-Id": "alpha", "Authorization": f"Bearer {WRONG_TOKEN}"},
        {"X-Client-Id": "alpha", "Authorization": f"bearer {WRONG_TOKEN}"},
        {"X-Client-Id": "alpha", "Authorization": "Basic YWxwaGE6eA=="},
        {"X-Client-Id": "alpha", "Authorization": "Bearer"},
        {"Authorization": "Bearer test-token-0123456789abcdef"},
    ],
    ids=["nothing", "no-token", "wrong", "lowercase", "basic", "empty", "no-client-id"],
)
def test_shared_mode_refuses_every_route_without_the_token_and_a_client_id(
    relay, method, path, headers
):
    answer = call(relay, method, path, headers)
    assert_refused(answer, 401, "unauthorized")
    assert WRONG_TOKEN not in answer.text


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_shared_mode_lets_the_token_in_on_every_route(relay, method, path):
    assert_let_in(call(relay, method, path, relay.headers("alpha")))


def test_healthz_answers_anyone(relay):
    assert call(relay, "GET", "/healthz", {}).status_code == 200


def test_the_web_views_page_and_files_answer_anyone(relay):
    for path in sorted(WEB_VIEW_FILES | {"/healthz"}):
        answer = requests.get(relay.url + EVERY_ROUTE[("GET", path)][0], timeout=5)
        assert answer.status_code == 200, path


def test_the_join_routes_answer_without_a_token_with_their_own_answers(relay):
    guess = call(relay, "POST", "/api/v1/join", {})
    assert guess.status_code == 401
    assert "join code is not valid" in guess.json()["error"]["message"]  # not "needs a token"
    no_ca = call(relay, "GET", "/api/v1/join/ca", {})
    assert no_ca.status_code == 404  # this relay runs without TLS
    assert no_ca.json()["error"]["code"] == "not_found"


def test_shared_mode_needs_a_client_id(relay):
    answer = requests.get(
        relay.url + "/api/v1/status", headers={"Authorization": f"Bearer {relay.token}"}, timeout=5
    )
    assert answer.status_code == 401
    assert "X-Client-Id" in answer.json()["error"]["message"]


def test_a_malformed_client_id_is_invalid(relay):
    answer = requests.get(relay.url + "/api/v1/status", headers=relay.headers("../root"), timeout=5)
    assert answer.status_code == 400


def test_open_mode_takes_identity_from_the_header(start_relay):
    relay = start_relay(token=None)
    answer = requests.get(relay.url + "/api/v1/whoami", headers={"X-Client-Id": "alpha"}, timeout=5)
    assert answer.json()["client_id"] == "alpha"
    assert answer.json()["auth_mode"] == "open"
    assert requests.get(relay.url + "/api/v1/whoami", timeout=5).status_code == 401


def test_tokens_are_stored_hashed(start_relay):
    relay = start_relay(token=None, auth_mode="per-client")
    token = relay.add_client("alpha")
    relay.stop()
    # Every file of the store: after a stop the rows may still sit in relay.sqlite3-wal.
    stored = b"".join(path.read_bytes() for path in relay.data_dir.rglob("*") if path.is_file())
    assert token.encode() not in stored
    assert hash_token(token).encode() in stored  # the search does look where the row is
    log = relay.log()
    assert token not in log


@pytest.fixture
def per_client_relay(start_relay):
    """A per-client relay logging at debug level, with tokens for alpha and beta."""
    relay = start_relay(token=None, auth_mode="per-client", log_level="debug")
    relay.tokens = {"alpha": relay.add_client("alpha"), "beta": relay.add_client("beta")}
    return relay


def test_open_mode_needs_only_a_client_id_on_every_route(start_relay):
    relay = start_relay(token=None)
    for method, path in GUARDED:
        assert_refused(call(relay, method, path, {}), 401, "unauthorized")
        assert_refused(call(relay, method, path, {"X-Client-Id": "../x"}), 400, "invalid")
        assert_let_in(call(relay, method, path, {"X-Client-Id": "alpha"}))


async def mcp_whoami(relay, token: str, client_id: str | None = None) -> str:
    headers = {"X-Client-Id": client_id} if client_id else {}
    transport = StreamableHttpTransport(relay.mcp_url, headers=headers, auth=token)
    async with Client(transport, timeout=10) as client:
        return (await client.call_tool("whoami", {})).structured_content["client_id"]


def test_per_client_tokens_are_the_identity_on_every_route(per_client_relay):
    relay = per_client_relay
    assert relay.tokens["alpha"] != relay.tokens["beta"]
    for client_id, token in relay.tokens.items():
        who = requests.get(
            relay.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert who.json()["client_id"] == client_id
        assert who.json()["auth_mode"] == "per-client"
        assert anyio.run(mcp_whoami, relay, token) == client_id
    with pytest.raises(MCPError):
        anyio.run(mcp_whoami, relay, relay.tokens["alpha"], "beta")
    alpha = {"Authorization": f"Bearer {relay.tokens['alpha']}"}
    for method, path in GUARDED:
        assert_let_in(call(relay, method, path, alpha))
        assert_let_in(call(relay, method, path, {**alpha, "X-Client-Id": "alpha"}))
        spoofed = call(relay, method, path, {**alpha, "X-Client-Id": "beta"})
        assert_refused(spoofed, 403, "forbidden")
        for refused in (
            {},
            {"X-Client-Id": "alpha"},
            {"Authorization": f"Bearer {WRONG_TOKEN}", "X-Client-Id": "alpha"},
            {"Authorization": "Bearer test-token-0123456789abcdef"},  # the shared relay's
        ):
            assert_refused(call(relay, method, path, refused), 401, "unauthorized")


@pytest.mark.relay_process  # what `serve` itself writes to its log
def test_no_token_ever_shows_in_an_answer_or_in_the_debug_log(per_client_relay):
    relay = per_client_relay
    tokens = [*relay.tokens.values(), WRONG_TOKEN]
    for method, path in GUARDED:
        for token in tokens:
            for client_id in ("alpha", "beta", "mallory"):
                headers = {"Authorization": f"Bearer {token}", "X-Client-Id": client_id}
                answer = call(relay, method, path, headers)
                assert not [t for t in tokens if t in answer.text], (method, path)
                assert not [t for t in tokens if t in str(answer.headers)], (method, path)
    log = relay.log()
    assert "DEBUG" in log  # the log really is at debug level
    assert not [token for token in tokens if token in log]
    assert not [token[:12] for token in tokens if token[:12] in log]
    # A token's SHA-256 is what the database keys on: enough to try guesses offline.
    hashes = [hash_token(token) for token in tokens]
    assert not [digest for digest in hashes if digest[:16] in log]


def whoami_status(relay, token: str) -> int:
    answer = requests.get(
        relay.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    return answer.status_code


def mcp_status(relay, token: str) -> int:
    """The status of an MCP ``initialize`` POSTed with ``token``."""
    answer = requests.post(
        relay.mcp_url,
        json=INITIALIZE,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
        timeout=5,
    )
    return answer.status_code


def test_a_replaced_token_is_refused_at_once_over_http_and_mcp(per_client_relay):
    relay = per_client_relay
    old = relay.tokens["alpha"]

    async def scenario() -> str:
        transport = StreamableHttpTransport(relay.mcp_url, auth=old)
        async with Client(transport, timeout=10) as live:
            # The relay has accepted (and remembered) the old token on both routes.
            assert (await live.call_tool("whoami", {})).structured_content["client_id"] == "alpha"
            assert whoami_status(relay, old) == 200
            output = await anyio.to_thread.run_sync(relay.admin, "add-client", "alpha")
            assert "already had a token" in output
            with pytest.raises(MCPError):  # the POST got 401 (mcp_status below shows it)
                await live.call_tool("whoami", {})
        return next(line.strip() for line in output.splitlines() if line.startswith("    "))

    new = anyio.run(scenario)
    assert whoami_status(relay, old) == 401
    assert mcp_status(relay, old) == 401
    assert whoami_status(relay, new) == 200
    assert mcp_status(relay, new) == 200
    assert anyio.run(mcp_whoami, relay, new) == "alpha"
    assert whoami_status(relay, relay.tokens["beta"]) == 200


def test_a_removed_token_is_refused_at_once_and_others_keep_working(per_client_relay):
    relay = per_client_relay
    token = relay.tokens["alpha"]
    assert whoami_status(relay, token) == 200
    assert mcp_status(relay, token) == 200
    output = relay.admin("remove-client", "alpha")
    assert "stops working now" in output
    assert whoami_status(relay, token) == 401
    assert mcp_status(relay, token) == 401
    assert whoami_status(relay, relay.tokens["beta"]) == 200
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "relay_server",
            "remove-client",
            "alpha",
            "--data-dir",
            str(relay.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **relay.env},
    )
    assert again.returncode == 1
    assert again.stderr.startswith("Error: not_found: client 'alpha' has no token")


def test_the_command_line_shows_the_missing_token_hint_once(relay):
    from relay_client.cli.app import CommandError
    from relay_core.errors import error_from_payload

    answer = requests.get(relay.url + "/api/v1/whoami", headers={"X-Client-Id": "a"}, timeout=5)
    assert answer.status_code == 401
    shown = CommandError(error_from_payload(answer.json(), http_status=401)).message
    assert shown.count("agent-relay onboard --token") == 1, shown

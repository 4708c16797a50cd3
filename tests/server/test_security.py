"""Who may see what: sessions, messages and files stay with the clients they belong to.

Every test runs against a real relay, through the HTTP API and through MCP, and tries the tricks
a curious or hostile client would: ids of other people's messages, cursors that start before
them, digests of files it was never given, another client's MCP session.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from relay_core.toon import decode_messages

MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
HANDSHAKE_VERSION = "2025-11-25"


def mcp_post(relay, client_id, body, session_id=None):
    headers = {**relay.headers(client_id), **MCP_HEADERS}
    if session_id:
        headers |= {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": HANDSHAKE_VERSION}
    return requests.post(relay.mcp_url, json=body, headers=headers, timeout=10)


def open_mcp_session(relay, client_id):
    """A stateful (handshake era) MCP session of ``client_id``; returns its id."""
    answer = mcp_post(
        relay,
        client_id,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "security-test", "version": "1"},
            },
        },
    )
    assert answer.status_code == 200, answer.text
    session_id = answer.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert mcp_post(relay, client_id, initialized, session_id).status_code == 202
    return session_id


def whoami_call(request_id=2):
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}},
    }


def test_an_mcp_session_answers_only_the_client_that_opened_it(relay):
    session_id = open_mcp_session(relay, "alpha")
    assert mcp_post(relay, "alpha", whoami_call(), session_id).status_code == 200

    borrowed = mcp_post(relay, "mallory", whoami_call(), session_id)
    assert borrowed.status_code == 404
    headers = {**relay.headers("mallory"), **MCP_HEADERS, "Mcp-Session-Id": session_id}
    assert requests.get(relay.mcp_url, headers=headers, timeout=5).status_code == 404
    assert requests.delete(relay.mcp_url, headers=headers, timeout=5).status_code == 404

    still_there = mcp_post(relay, "alpha", whoami_call(3), session_id)
    assert still_there.status_code == 200
    assert '\\"client_id\\":\\"alpha\\"' in still_there.text


FORGED = "2026-01-01 00:00:00,000 INFO relay_server.access via=http client=root op=FORGED"


def test_a_client_cannot_forge_lines_in_the_access_log(relay):
    for separator in ("\n", "\r\n", "\r", "\u2028", "\x1b[2K\r"):
        path = quote(f"x{separator}{FORGED}", safe="")
        requests.get(
            f"{relay.url}/api/v1/sessions/{path}", headers=relay.headers("alpha"), timeout=5
        )
        requests.get(
            f"{relay.url}/api/v1/sessions/ok/{path}", headers=relay.headers("alpha"), timeout=5
        )
    lines = relay.log().splitlines()
    assert not [line for line in lines if line.startswith(FORGED[:10])]
    assert not [line for line in lines if "\x1b" in line or "\u2028" in line]


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/status", "/blobs/" + "0" * 64, "/mcp"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example"}, 421),
        ({"Host": "127.0.0.1.evil.example"}, 421),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
    ],
    ids=["host", "host-suffix", "origin", "null-origin"],
)
def test_a_web_page_cannot_reach_any_route_through_dns_rebinding(relay, path, headers, status):
    answer = requests.get(
        relay.url + path, headers={**relay.headers("alpha"), **headers}, timeout=5
    )
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == "forbidden"


def test_an_unknown_host_name_is_told_which_setting_lets_it_in(relay):
    answer = requests.get(
        relay.url + "/api/v1/status",
        headers={**relay.headers("alpha"), "Host": f"relay.lan:{relay.port}"},
        timeout=5,
    )
    assert answer.status_code == 421
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["details"] == {"host": f"relay.lan:{relay.port}", "setting": "allowed_hosts"}
    assert "allowed_hosts" in error["message"]
    assert "RELAY_ALLOWED_HOSTS" in error["message"]


# --- walls between clients --------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """alpha's session with beta and dave: a message for all, and one for beta with a file."""

    session: str
    public_id: int
    private_id: int
    digest: str
    data: bytes


def api(relay, client_id, method, path, **kwargs):
    return requests.request(
        method, relay.url + path, headers=relay.headers(client_id), timeout=10, **kwargs
    )


def code_of(answer) -> str:
    return answer.json()["error"]["code"]


def set_scene(relay, name: str) -> Scene:
    members = {"name": name, "participants": ["beta", "dave"]}
    assert api(relay, "alpha", "POST", "/api/v1/sessions", json=members).status_code == 201
    data = os.urandom(64)
    digest = hashlib.sha256(data).hexdigest()
    assert api(relay, "alpha", "PUT", f"/blobs/{digest}", data=data).status_code in (200, 201)
    messages = f"/api/v1/sessions/{name}/messages"
    public = api(relay, "alpha", "POST", messages, json={"text": "for everyone"})
    private = api(
        relay,
        "alpha",
        "POST",
        messages,
        json={
            "text": "for beta only",
            "to": ["beta"],
            "attachments": [{"sha256": digest, "filename": "secret.txt"}],
        },
    )
    return Scene(name, public.json()["id"], private.json()["id"], digest, data)


@pytest.fixture
def scene(relay, session_name) -> Scene:
    """A scene of the test's own: tests add to theirs (replies, attachments), so none shares one."""
    api(relay, "carol", "GET", "/api/v1/whoami")  # carol is known to the relay, in no session
    return set_scene(relay, session_name)


def test_an_outsider_can_neither_read_nor_change_a_session(relay, scene):
    base = f"/api/v1/sessions/{scene.session}"
    for method, path, body in [
        ("GET", base, None),
        ("GET", f"{base}/messages?after=0", None),
        ("GET", f"{base}/messages?after=0&wait=0.1", None),
        ("POST", f"{base}/messages", {"text": "let me in"}),
        ("POST", f"{base}/read", {"up_to_id": scene.private_id}),
        ("POST", f"{base}/invite", {"clients": ["carol"]}),
        ("POST", f"{base}/leave", None),
        ("DELETE", base, None),
    ]:
        answer = api(relay, "carol", method, path, json=body)
        assert answer.status_code == 403, (method, path)
        assert code_of(answer) == "forbidden"
        assert "for beta" not in answer.text
    sessions = api(relay, "carol", "GET", "/api/v1/sessions?include_closed=true").json()
    assert scene.session not in [s["name"] for s in sessions["sessions"]]
    peers = api(relay, "carol", "GET", "/api/v1/peers").json()["peers"]
    assert not [p for p in peers if scene.session in p["shared_sessions"]]


def test_an_outsider_gets_no_message_by_id_or_by_waiting(relay, scene):
    for message_id in (scene.public_id, scene.private_id):
        answer = api(relay, "carol", "GET", f"/api/v1/messages/{message_id}")
        assert answer.status_code == 404
        assert code_of(answer) == "not_found"
    waited = api(relay, "carol", "GET", "/api/v1/wait?after=0&timeout=0").json()
    assert not [m for m in waited["messages"] if m["session"] == scene.session]


def test_a_message_to_one_participant_is_hidden_from_the_others(relay, scene):
    base = f"/api/v1/sessions/{scene.session}"
    for after in (0, scene.public_id, scene.private_id - 1):
        page = api(relay, "dave", "GET", f"{base}/messages?after={after}").json()
        assert scene.private_id not in [m["id"] for m in page["messages"]]
    waited = api(relay, "dave", "GET", "/api/v1/wait?after=0&timeout=0").json()
    assert scene.private_id not in [m["id"] for m in waited["messages"]]
    assert api(relay, "dave", "GET", f"/api/v1/messages/{scene.private_id}").status_code == 404
    detail = api(relay, "dave", "GET", base).json()
    assert detail["last_message_id"] == scene.public_id  # not even the id shows
    reply = {"text": "re", "reply_to": scene.private_id}
    assert code_of(api(relay, "dave", "POST", f"{base}/messages", json=reply)) == "not_found"
    assert api(relay, "beta", "GET", f"/api/v1/messages/{scene.private_id}").status_code == 200


def test_a_file_is_served_only_to_who_may_read_a_message_it_is_attached_to(relay, scene):
    for client_id in ("carol", "dave"):
        for method in ("HEAD", "GET"):
            answer = api(relay, client_id, method, f"/blobs/{scene.digest}")
            assert answer.status_code == 404, (client_id, method)
    for client_id in ("alpha", "beta"):
        assert api(relay, client_id, "GET", f"/blobs/{scene.digest}").content == scene.data


def test_knowing_a_digest_is_not_enough_to_attach_or_claim_a_file(relay, scene):
    attach = {"text": "look", "attachments": [{"sha256": scene.digest, "filename": "mine.txt"}]}
    answer = api(relay, "dave", "POST", f"/api/v1/sessions/{scene.session}/messages", json=attach)
    assert answer.status_code == 400
    assert code_of(answer) == "invalid"
    forged = api(relay, "dave", "PUT", f"/blobs/{scene.digest}", data=b"x" * len(scene.data))
    assert forged.status_code == 400
    assert code_of(forged) == "invalid"
    assert api(relay, "dave", "GET", f"/blobs/{scene.digest}").status_code == 404
    to_alpha = {**attach, "to": ["alpha"]}  # not to dave: the other tests count on that
    again = api(relay, "beta", "POST", f"/api/v1/sessions/{scene.session}/messages", json=to_alpha)
    assert again.status_code == 201  # beta may pass on a file it can read


def test_a_client_that_leaves_loses_the_messages_and_files_it_could_read(relay):
    left = set_scene(relay, f"leaving-{os.getpid() % 1000}")
    assert api(relay, "beta", "POST", f"/api/v1/sessions/{left.session}/leave").status_code == 204
    assert api(relay, "beta", "GET", f"/api/v1/messages/{left.private_id}").status_code == 404
    assert api(relay, "beta", "GET", f"/blobs/{left.digest}").status_code == 404
    path = f"/api/v1/sessions/{left.session}/messages?after=0"
    assert api(relay, "beta", "GET", path).status_code == 403


def mcp_client(relay, client_id: str) -> Client:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=30)


def outcome(result) -> str:
    return result.content[0].text.split(":", 1)[0] if result.is_error else "ok"


@pytest.mark.anyio
async def test_the_same_walls_hold_through_mcp(relay, scene):
    async with (
        mcp_client(relay, "carol") as carol,
        mcp_client(relay, "dave") as dave,
        mcp_client(relay, "beta") as beta,
    ):

        async def call(client, tool, **arguments):
            return await client.call_tool(tool, arguments, raise_on_error=False)

        for tool, arguments in [
            ("get_session", {"name": scene.session}),
            ("read_messages", {"session": scene.session, "after_id": 0}),
            ("wait_for_messages", {"session": scene.session, "after_id": 0, "timeout_s": 0}),
            ("mark_read", {"session": scene.session, "up_to_id": scene.private_id}),
            ("invite", {"session": scene.session, "clients": ["carol"]}),
            ("send_message", {"session": scene.session, "text": "let me in"}),
            ("close_session", {"name": scene.session}),
        ]:
            assert outcome(await call(carol, tool, **arguments)) == "forbidden", tool
        everywhere = await call(carol, "wait_for_messages", after_id=0, timeout_s=0)
        assert scene.session not in everywhere.content[0].text
        for client in (carol, dave):
            for tool in ("download_file", "blob_url"):
                result = await call(client, tool, sha256=scene.digest)
                assert outcome(result) == "not_found", tool

        page = await call(dave, "read_messages", session=scene.session, after_id=0)
        assert [m.id for m in decode_messages(page.content[0].text)] == [scene.public_id]
        waited = await call(dave, "wait_for_messages", after_id=0, timeout_s=0)
        assert scene.private_id not in [m.id for m in decode_messages(waited.content[0].text)]
        attach = [{"sha256": scene.digest, "filename": "mine.txt"}]
        sent = await call(dave, "send_message", session=scene.session, text="x", attachments=attach)
        assert outcome(sent) == "invalid"
        spoof = await call(dave, "send_message", session=scene.session, text="x", sender="alpha")
        assert outcome(spoof) == "invalid"

        file = await call(beta, "download_file", sha256=scene.digest)
        assert base64.b64decode(file.structured_content["content_base64"]) == scene.data

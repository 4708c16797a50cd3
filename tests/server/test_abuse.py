"""Abuse against a real relay: oversized bodies and headers, slow clients, too many requests.

Each limit is checked where it bites: over a real socket, with the body sent with and without a
Content-Length, and the relay must keep serving everyone else afterwards.
"""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

MiB = 1024 * 1024


def mcp_client(relay, client_id: str = "alpha") -> Client:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=60)


def assert_serving(relay) -> None:
    assert relay.running, relay.log()[-2000:]
    assert requests.get(relay.url + "/healthz", timeout=5).status_code == 200


def read_until_closed(conn: socket.socket) -> bytes:
    """Everything the relay sends until it closes the connection."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def read_response(conn: socket.socket) -> bytes:
    """One whole HTTP response with a Content-Length, however the bytes are split."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def head_bytes(relay, method: str, path: str, extra: str = "", client_id: str = "alpha") -> bytes:
    identity = "".join(f"{name}: {value}\r\n" for name, value in relay.headers(client_id).items())
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{identity}{extra}".encode()


@pytest.mark.anyio
async def test_upload_file_takes_a_file_as_large_as_the_inline_limit(start_relay):
    relay = start_relay(inline_file_bytes=5 * MiB)  # base64 is past the MCP SDK's 4 MiB
    data = os.urandom(5 * MiB)
    async with mcp_client(relay) as client:
        stored = await client.call_tool(
            "upload_file",
            {"filename": "big.bin", "content_base64": base64.b64encode(data).decode()},
            raise_on_error=False,
        )
        assert not stored.is_error, stored.content[0].text
        assert stored.structured_content["size"] == len(data)
        over = await client.call_tool(
            "upload_file",
            {"filename": "big.bin", "content_base64": base64.b64encode(data + b"x").decode()},
            raise_on_error=False,
        )
        assert over.content[0].text.startswith("too_large: ")
    assert_serving(relay)


def test_an_mcp_body_past_the_limit_is_refused_before_it_is_parsed(start_relay):
    relay = start_relay(inline_file_bytes=MiB)
    headers = {
        **relay.headers("alpha"),
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "pad": "' + b"x" * 5 * MiB + b'"}'
    declared = requests.post(relay.mcp_url, data=body, headers=headers, timeout=30)
    assert declared.status_code == 413
    chunked = requests.post(
        relay.mcp_url, data=iter([body[:MiB], body[MiB:]]), headers=headers, timeout=30
    )
    assert chunked.status_code == 413
    assert_serving(relay)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_json_body_past_one_mib_is_too_large(relay, chunked):
    body = b'{"name": "' + b"x" * (2 * MiB) + b'"}'
    data = iter([body[i : i + 64 * 1024] for i in range(0, len(body), 64 * 1024)])
    answer = requests.post(
        relay.url + "/api/v1/sessions",
        data=data if chunked else body,
        headers={**relay.headers("alpha"), "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert_serving(relay)


def test_a_file_upload_must_declare_its_length(relay):
    answer = requests.put(
        relay.url + "/blobs/" + "0" * 64,
        data=iter([b"x" * 1024] * 4),
        headers=relay.headers("alpha"),
        timeout=30,
    )
    assert answer.status_code == 411
    assert answer.json()["error"]["code"] == "invalid"


def test_request_headers_past_64_kib_are_refused(relay):
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as conn:
        conn.sendall(b"GET /api/v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for index in range(10):  # 80 KiB of headers, in pieces as a network delivers them
                conn.sendall(f"X-Pad-{index}: ".encode() + b"p" * 8192 + b"\r\n")
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(conn)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"code": "invalid"' in answer
    assert_serving(relay)


def test_a_client_that_leaves_in_the_middle_of_a_body_is_no_error(relay):
    head = head_bytes(
        relay,
        "POST",
        "/api/v1/sessions",
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        client_id="leaver",
    )
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as conn:
        conn.sendall(head + b'{"name": "gone')
    # The relay's access line for the request is the sign it has finished with it.
    deadline = time.monotonic() + 10
    while 'client=leaver op="POST /api/v1/sessions"' not in relay.log():
        assert time.monotonic() < deadline, relay.log()[-2000:]
        time.sleep(0.02)
    assert_serving(relay)
    assert "Traceback" not in relay.log()


# --- the per-client rate limit ------------------------------------------------------------

ROUTE_FAMILIES = {
    "api": ("GET", "/api/v1/whoami", None),
    "blobs": ("HEAD", "/blobs/" + "0" * 64, None),
    "mcp": ("GET", "/mcp", None),  # past the limit, the MCP SDK wants a session: 400
}


def request(relay, client_id, method, path, body=None):
    headers = {**relay.headers(client_id), "Accept": "application/json, text/event-stream"}
    return requests.request(method, relay.url + path, headers=headers, json=body, timeout=10)


def test_a_client_over_its_rate_gets_429_with_retry_after_on_every_route_family(start_relay):
    relay = start_relay(rate_limit_per_s=0.05, rate_limit_burst=3)  # then one every 20 s
    for family, (method, path, body) in ROUTE_FAMILIES.items():
        client = f"flood-{family}"
        for _ in range(3):
            assert request(relay, client, method, path, body).status_code != 429, family
        refused = request(relay, client, method, path, body)
        assert refused.status_code == 429, family
        assert 1 <= int(refused.headers["Retry-After"]) <= 20
        if method != "HEAD":
            assert refused.json()["error"]["code"] == "rate_limited"
        assert request(relay, f"calm-{family}", method, path, body).status_code != 429, family
    for _ in range(10):
        assert requests.get(relay.url + "/healthz", timeout=5).status_code == 200
    assert 'client=flood-api op="GET /api/v1/whoami" session=- outcome=429' in relay.log()


def test_a_refused_client_is_served_again_once_its_bucket_refills(start_relay):
    relay = start_relay(rate_limit_per_s=20, rate_limit_burst=1)
    answers = [request(relay, "alpha", "GET", "/api/v1/whoami") for _ in range(5)]
    assert 429 in [answer.status_code for answer in answers]
    deadline = time.monotonic() + 5
    while request(relay, "alpha", "GET", "/api/v1/whoami").status_code == 429:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_rate_limit_is_off_by_default(relay):
    statuses = {request(relay, "busy", "GET", "/api/v1/whoami").status_code for _ in range(80)}
    assert statuses == {200}


# --- slow clients ---------------------------------------------------------------------------

TIMEOUT_S = 1.0
SLACK_S = 2.0
"""How much later than its timeout a connection may be closed (a loaded CI machine)."""


@pytest.fixture
def impatient_relay(start_relay):
    """A relay that gives request heads and stalled bodies one second."""
    return start_relay(request_head_timeout_s=TIMEOUT_S, request_body_idle_s=TIMEOUT_S)


def connect(relay) -> socket.socket:
    return socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT_S + SLACK_S + 5)


def test_a_connection_that_sends_nothing_is_closed(impatient_relay):
    started = time.monotonic()
    with connect(impatient_relay) as conn:
        assert read_until_closed(conn) == b""
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    assert_serving(impatient_relay)


def test_a_request_head_dribbled_a_byte_at_a_time_is_cut_off_with_408(impatient_relay):
    head = head_bytes(impatient_relay, "GET", "/api/v1/whoami", "X-Slow: " + "z" * 100)
    started = time.monotonic()
    with connect(impatient_relay) as conn:
        try:
            for byte in head:
                conn.sendall(bytes([byte]))
                time.sleep(0.02)  # the point of the test: a client this slow
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(conn)
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code": "invalid"' in answer
    assert_serving(impatient_relay)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/sessions"), ("PUT", "/blobs/" + "0" * 64), ("POST", "/mcp")],
    ids=["api", "blobs", "mcp"],
)
def test_a_request_body_that_stalls_is_cut_off(impatient_relay, method, path):
    extra = "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
    head = head_bytes(impatient_relay, method, path, extra + "Content-Length: 1000\r\n\r\n")
    started = time.monotonic()
    with connect(impatient_relay) as conn:
        conn.sendall(head + b'{"name": "stal')
        read_until_closed(conn)
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S
    assert_serving(impatient_relay)
    if method != "POST" or path != "/mcp":  # the MCP SDK logs a client gone mid-body as an error
        assert "Traceback" not in impatient_relay.log()


def test_a_slow_but_steady_body_and_a_long_poll_outlast_the_timeouts(impatient_relay):
    body = b'{"name": "slow-and-steady", "description": "' + b"s" * 60 + b'"}'
    head = head_bytes(
        impatient_relay,
        "POST",
        "/api/v1/sessions",
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n",
    )
    with connect(impatient_relay) as conn:
        conn.sendall(head)
        for start in range(0, len(body), 4):
            conn.sendall(body[start : start + 4])
            time.sleep(TIMEOUT_S / 8)  # 3 s in all, never 1 s without a byte
        assert read_response(conn).startswith(b"HTTP/1.1 201 ")
    waited = requests.get(
        impatient_relay.url + "/api/v1/wait",
        params={"timeout": 3 * TIMEOUT_S},
        headers=impatient_relay.headers("alpha"),
        timeout=30,
    )
    assert waited.status_code == 200
    assert waited.json()["timed_out"] is True


def test_a_keep_alive_connection_is_reused_and_its_next_dribbled_head_is_cut_off(
    impatient_relay,
):
    request = head_bytes(impatient_relay, "GET", "/api/v1/whoami", "\r\n")
    with connect(impatient_relay) as conn:
        conn.sendall(request)
        assert read_response(conn).startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT_S * 1.5)  # idle between requests: keep-alive (30 s) governs
        conn.sendall(request)
        assert read_response(conn).startswith(b"HTTP/1.1 200 ")
        conn.sendall(request[:20])
        started = time.monotonic()
        assert read_until_closed(conn).startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S

"""Hostile input through the real HTTP API and the real MCP client, against a real relay.

Every answer must be a structured error (``{"error": {code, message}}`` with a 4xx status, or an
MCP tool error that starts with a known code) or a success: never a 500, never a traceback, and
the relay keeps serving afterwards.
"""

from __future__ import annotations

import hashlib

import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from relay_core.errors import ERROR_CLASSES

BIG = 2**70
"""Past SQLite's signed 64-bit INTEGER."""


def assert_structured(answer: requests.Response) -> None:
    """A success, or a 4xx whose body is a relay error with a known code; never a 500."""
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text
    if answer.status_code >= 400 and answer.request.method != "HEAD":
        assert answer.json()["error"]["code"] in ERROR_CLASSES, answer.text[:300]


def error_code(answer: requests.Response) -> str:
    assert_structured(answer)
    return answer.json()["error"]["code"]


def mcp_client(relay, client_id: str = "alpha") -> Client:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=30)


def tool_outcome(result) -> str:
    """``ok``, or the code a tool error starts with; a masked internal error fails the test."""
    if not result.is_error:
        return "ok"
    text = result.content[0].text
    code, _, rest = text.partition(": ")
    assert code in ERROR_CLASSES, text
    assert rest, text
    assert "Traceback" not in text
    return code


def assert_serving(relay) -> None:
    """The relay process is alive and answers /healthz."""
    assert relay.process.poll() is None, relay.log()[-2000:]
    assert requests.get(relay.url + "/healthz", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def probe(relay) -> str:
    """A session of alpha's with one message in it."""
    name = "hostile-probe"
    headers = relay.headers("alpha")
    requests.post(relay.url + "/api/v1/sessions", json={"name": name}, headers=headers, timeout=5)
    requests.post(
        f"{relay.url}/api/v1/sessions/{name}/messages",
        json={"text": "first"},
        headers=headers,
        timeout=5,
    )
    return name


@pytest.fixture(scope="module")
def blob(relay) -> str:
    """The digest of a 10-byte file alpha uploaded (so alpha may read it)."""
    data = b"0123456789"
    digest = hashlib.sha256(data).hexdigest()
    answer = requests.put(
        f"{relay.url}/blobs/{digest}", data=data, headers=relay.headers("alpha"), timeout=10
    )
    assert answer.status_code in (200, 201)
    return digest


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/sessions/{s}/messages?after={big}", None),
        ("GET", "/api/v1/sessions/{s}/messages?after={int64}", None),
        ("GET", "/api/v1/wait?timeout=0&after={big}", None),
        ("GET", "/api/v1/messages/{big}", None),
        ("GET", "/api/v1/messages/{huge}", None),
        ("POST", "/api/v1/sessions/{s}/read", {"up_to_id": BIG}),
        ("POST", "/api/v1/sessions/{s}/messages", {"text": "x", "reply_to": BIG}),
    ],
    ids=[
        "read-after",
        "read-after-int64",
        "wait-after",
        "message-id",
        "message-id-5000-digits",
        "mark-read",
        "reply-to",
    ],
)
def test_ids_past_64_bits_are_invalid_over_http(relay, probe, method, path, body):
    url = relay.url + path.format(s=probe, big=BIG, int64=2**63, huge="9" * 5000)
    answer = requests.request(method, url, json=body, headers=relay.headers("alpha"), timeout=10)
    assert answer.status_code == 400
    assert error_code(answer) == "invalid"
    assert_serving(relay)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_messages", {"after_id": BIG}),
        ("read_messages", {"after_id": 2**63}),
        ("wait_for_messages", {"after_id": BIG, "timeout_s": 0}),
        ("mark_read", {"up_to_id": BIG}),
        ("send_message", {"text": "x", "reply_to": BIG}),
    ],
    ids=["read-after", "read-after-int64", "wait-after", "mark-read", "reply-to"],
)
async def test_ids_past_64_bits_are_invalid_through_mcp(relay, probe, tool, arguments):
    arguments = {"session": probe, **arguments}
    async with mcp_client(relay) as client:
        result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert tool_outcome(result) == "invalid"
    assert_serving(relay)


@pytest.mark.parametrize("depth", [100, 10_000, 100_000])
def test_deeply_nested_json_bodies_are_invalid(relay, probe, depth):
    body = '{"text": ' + "[" * depth + "]" * depth + "}"
    answer = requests.post(
        f"{relay.url}/api/v1/sessions/{probe}/messages",
        data=body,
        headers={**relay.headers("alpha"), "Content-Type": "application/json"},
        timeout=10,
    )
    assert error_code(answer) == "invalid"
    assert_serving(relay)


@pytest.mark.parametrize(
    ("range_header", "status", "content"),
    [
        ("bytes=" + "9" * 5000 + "-", 416, None),
        ("bytes=0-" + "9" * 5000, 206, b"0123456789"),
        ("bytes=-" + "9" * 5000, 206, b"0123456789"),
        ("bytes=" + "0" * 30 + "7-", 206, b"789"),
        ("bytes=3-" + "9" * 25, 206, b"3456789"),
        ("bytes=\u0663-", 200, b"0123456789"),  # an Arabic-Indic three is not a digit here
    ],
    ids=[
        "start-5000-digits",
        "end-5000-digits",
        "suffix-5000-digits",
        "leading-zeros",
        "end-25-digits",
        "non-ascii-digit",
    ],
)
def test_absurd_range_headers_get_a_range_answer_not_a_500(
    relay, blob, range_header, status, content
):
    answer = requests.get(
        f"{relay.url}/blobs/{blob}",
        headers={**relay.headers("alpha"), "Range": range_header.encode("utf-8")},
        timeout=10,
    )
    assert_structured(answer)
    assert answer.status_code == status
    if content is not None:
        assert answer.content == content
    assert_serving(relay)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["no_such_tool", "../whoami", "x" * 10_000, "whoami\x00"])
async def test_an_unknown_tool_is_not_found(relay, name):
    async with mcp_client(relay) as client:
        result = await client.call_tool(name, {}, raise_on_error=False)
    assert tool_outcome(result) == "not_found"
    assert_serving(relay)


def test_a_json_number_past_4300_digits_is_invalid(relay, probe):
    answer = requests.post(
        f"{relay.url}/api/v1/sessions/{probe}/read",
        data=b'{"up_to_id": ' + b"9" * 5000 + b"}",
        headers={**relay.headers("alpha"), "Content-Type": "application/json"},
        timeout=10,
    )
    assert error_code(answer) == "invalid"
    assert_serving(relay)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/messages/%0A1", "/api/v1/sessions/a%0Ab/messages", "/blobs/%0A", "/%0A"],
)
def test_a_newline_in_the_path_is_a_json_error(relay, path):
    answer = requests.get(relay.url + path, headers=relay.headers("alpha"), timeout=10)
    assert answer.status_code in (400, 404)
    assert error_code(answer) in ("invalid", "not_found")
    assert_serving(relay)

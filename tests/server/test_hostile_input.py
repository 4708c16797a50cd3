"""Hostile input through the real HTTP API and the real MCP client, against a real relay.

Every answer must be a structured error (``{"error": {code, message}}`` with a 4xx status, or an
MCP tool error that starts with a known code) or a success: never a 500, never a traceback, and
the relay keeps serving afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import quote

import anyio.from_thread
import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from relay_core.errors import ERROR_CLASSES
from relay_core.tasks import TASK_STATES

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
    """The relay process is alive, answers /healthz and has logged no traceback."""
    assert relay.running, relay.log()[-2000:]
    assert requests.get(relay.url + "/healthz", timeout=5).status_code == 200
    assert "Traceback" not in relay.log(), relay.log()[-4000:]


@pytest.fixture(autouse=True)
def still_serving_afterwards(relay):
    """After every test here, whatever it sent, the relay is alive, answers and has logged no
    traceback: each test proves it for itself, whatever ran before it."""
    yield
    assert_serving(relay)


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


# --- property tests: hypothesis drives hostile values into every route and tool --------------

EXPLORE = os.environ.get("FUZZ_EXAMPLES")
"""Set it (say to 2000) to hunt for bugs with that many random examples a test; unset, every run
uses the same few examples, so CI is deterministic and quick."""


def fuzz(examples: int) -> settings:
    """Hypothesis settings for one property test against the real relay."""
    return settings(
        max_examples=int(EXPLORE) if EXPLORE else examples,
        derandomize=not EXPLORE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


NASTY_TEXT = [
    "",
    " ",
    ".",
    "..",
    "../",
    "../../../../etc/passwd",
    "/etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2f..%2f",
    "..%252f",
    "..\\..\\windows\\win.ini",
    "C:\\Windows\\System32",
    "\x00",
    "a\x00b",
    "\r\nX-Injected: 1",
    "\x1b[31mred",
    "\u202eevil\u2066",
    "\ufeffbom",
    "\u0130stanbul",
    "\uff41\uff4c\uff50\uff48\uff41",  # fullwidth
    "\U0001f600",
    "con",
    "nul.txt",
    "' OR 1=1 --",
    "%s%n%x",
    "{{7*7}}",
    "${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
    "a" * 65,
    "x" * 70_000,
    "é" * 40_000,
]
NASTY_INTS = [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63) - 1, 10**4000]
NASTY_FLOATS = [0.0, -0.0, 5e-324, 0.5, 1e308, -1e308, 300.000001]

ANY_CHAR = st.characters(exclude_categories=("Cs",))  # lone surrogates cannot be UTF-8 encoded
texts = st.one_of(st.sampled_from(NASTY_TEXT), st.text(ANY_CHAR, max_size=200))
ints = st.one_of(st.sampled_from(NASTY_INTS), st.integers())
floats = st.one_of(st.sampled_from(NASTY_FLOATS), st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(
    st.none() | st.booleans() | ints | floats | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
"""Any JSON value: for wrong types in every place."""

valid_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,8}[a-z0-9]", fullmatch=True).filter(
    lambda name: ".." not in name
)
names = st.one_of(st.sampled_from(["hz-one", "hz-two", "alpha", "beta"]), valid_names, texts)
hex_digests = st.text("0123456789abcdef", min_size=64, max_size=64)
digests = st.one_of(
    hex_digests,
    st.sampled_from(["A" * 64, "g" * 64, "a" * 63, "a" * 65, "../" * 22, "%2e%2e%2f" * 8]),
    texts,
)
# Long polls must stay short: valid timeouts are tiny, the rest are out of range.
timeouts = st.one_of(
    st.floats(min_value=0, max_value=0.1),
    st.sampled_from([-1.0, -0.0, -1e-9, 300.0001, 1e308, -1e308, 2**70]),
)
attachments = st.lists(
    st.fixed_dictionaries(
        {"sha256": digests, "filename": texts},
        optional={"mime": st.none() | texts, "size": ints, "extra": json_values},
    )
    | json_values,
    max_size=3,
)
base64ish = st.one_of(
    st.binary(max_size=64).map(lambda data: base64.b64encode(data).decode()),
    st.sampled_from(["", "=", "====", "aGk", "aGk=\n", "!!!!", "a" * 100_001]),
    texts,
)


def maybe_wrong(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``values``, sometimes any JSON value at all (a wrong type)."""
    return st.one_of(values, values, values, json_values)


TOOL_ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "name": maybe_wrong(names),
    "session": maybe_wrong(names),
    "description": maybe_wrong(texts),
    "participants": maybe_wrong(st.lists(names, max_size=4)),
    "clients": maybe_wrong(st.lists(names, max_size=4)),
    "to": maybe_wrong(st.lists(names, max_size=4)),
    "text": maybe_wrong(texts),
    "reply_to": maybe_wrong(st.none() | ints),
    "after_id": maybe_wrong(st.none() | ints),
    "up_to_id": maybe_wrong(ints),
    "limit": maybe_wrong(ints),
    "mark_read": maybe_wrong(st.booleans()),
    "include_closed": maybe_wrong(st.booleans()),
    "timeout_s": timeouts,
    "attachments": maybe_wrong(attachments),
    "filename": maybe_wrong(texts),
    "content_base64": maybe_wrong(base64ish),
    "mime": maybe_wrong(st.none() | texts),
    "sha256": maybe_wrong(digests),
    "title": maybe_wrong(texts),
    "details": maybe_wrong(texts),
    "assignee": maybe_wrong(st.none() | names),
    "state": maybe_wrong(st.none() | st.sampled_from(TASK_STATES) | texts),
    "until": maybe_wrong(st.lists(st.sampled_from(TASK_STATES) | texts, max_size=3)),
    "mine": maybe_wrong(st.booleans()),
    "id": maybe_wrong(ints),
    "format": maybe_wrong(st.sampled_from(["relay", "a2a"]) | texts),
    "lease_s": maybe_wrong(ints),
    "note": maybe_wrong(texts),
    "query": maybe_wrong(
        st.sampled_from(['"open', "kill-9", "a OR", "NOT", "x*", "col:x", "", "a" * 600]) | texts
    ),
    "sender": maybe_wrong(st.none() | names),
    "since": maybe_wrong(
        st.none() | st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", "yesterday"]) | texts
    ),
    "role": maybe_wrong(st.sampled_from(["reviewer", "@reviewer", "@", "@@x", "Rev"]) | names),
    "message_id": maybe_wrong(ints),
    "offset": maybe_wrong(ints),
    "reply_by_s": maybe_wrong(st.none() | st.floats(allow_nan=False) | ints),
    "ttl_s": maybe_wrong(st.none() | st.floats(allow_nan=False) | ints),
    "history": maybe_wrong(st.booleans()),
    "behavior": maybe_wrong(st.sampled_from(["allow", "deny", "ALLOW", "yes"]) | texts),
}
"""Hostile values for every tool parameter, by name (a test keeps this list complete)."""


@pytest.fixture(scope="module")
def fuzz_sessions(relay) -> list[str]:
    """Sessions alpha and beta share, so hostile calls also reach the deeper code paths."""
    for name in ("hz-one", "hz-two"):
        requests.post(
            relay.url + "/api/v1/sessions",
            json={"name": name, "participants": ["beta"]},
            headers=relay.headers("alpha"),
            timeout=5,
        )
    return ["hz-one", "hz-two"]


@pytest.fixture(scope="module")
def mcp_call(relay) -> Iterator[Callable[[str, dict[str, Any]], Any]]:
    """Call a tool through one real MCP client, from synchronous (hypothesis) tests."""
    with anyio.from_thread.start_blocking_portal() as portal:
        client = mcp_client(relay)
        portal.call(client.__aenter__)
        try:
            yield lambda tool, arguments: portal.call(
                partial(client.call_tool, tool, arguments, raise_on_error=False)
            )
        finally:
            portal.call(client.__aexit__, None, None, None)


@pytest.fixture(scope="module")
def tool_parameters(relay) -> dict[str, list[str]]:
    """Every tool the relay lists, with its parameter names."""

    async def listed() -> dict[str, list[str]]:
        async with mcp_client(relay) as client:
            tools = await client.list_tools()
        return {tool.name: list(tool.input_schema.get("properties", {})) for tool in tools}

    return anyio.run(listed)


def test_every_tool_parameter_has_hostile_values(tool_parameters):
    assert tool_parameters
    missing = {p for params in tool_parameters.values() for p in params} - set(TOOL_ARGUMENTS)
    assert not missing


@fuzz(300)
@given(data=st.data())
def test_hostile_tool_arguments_get_a_result_or_a_coded_error(
    relay, fuzz_sessions, mcp_call, tool_parameters, data
):
    tool = data.draw(st.sampled_from(sorted(tool_parameters)), label="tool")
    arguments = {}
    for parameter in tool_parameters[tool]:
        # timeout_s is always given: its default would make a wait last 30 s.
        if parameter == "timeout_s" or data.draw(st.integers(0, 5), label=f"omit {parameter}?"):
            arguments[parameter] = data.draw(TOOL_ARGUMENTS[parameter], label=parameter)
    if data.draw(st.integers(0, 9), label="extra argument?") == 0:
        arguments[data.draw(texts, label="extra name")] = data.draw(json_values, label="extra")
    tool_outcome(mcp_call(tool, arguments))


def test_the_tools_still_answer_after_any_tool_call(relay, mcp_call):
    """The hostile tool calls run before it in this module, or not at all: either way the MCP
    endpoint answers (the autouse check above covers the rest after every test)."""
    assert tool_outcome(mcp_call("whoami", {})) == "ok"


SESSION_ROUTES = [
    ("GET", ""),
    ("DELETE", ""),
    ("POST", "/invite"),
    ("POST", "/leave"),
    ("GET", "/messages"),
    ("POST", "/messages"),
    ("POST", "/read"),
]
JSON_ROUTES = [
    "/api/v1/sessions",
    "/api/v1/sessions/hz-one/invite",
    "/api/v1/sessions/hz-one/messages",
    "/api/v1/sessions/hz-one/read",
]
BODY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": TOOL_ARGUMENTS["name"],
    "participants": TOOL_ARGUMENTS["participants"],
    "description": TOOL_ARGUMENTS["description"],
    "clients": TOOL_ARGUMENTS["clients"],
    "text": TOOL_ARGUMENTS["text"],
    "to": TOOL_ARGUMENTS["to"],
    "reply_to": TOOL_ARGUMENTS["reply_to"],
    "attachments": TOOL_ARGUMENTS["attachments"],
    "up_to_id": TOOL_ARGUMENTS["up_to_id"],
    "reply_by_s": TOOL_ARGUMENTS["reply_by_s"],
    "ttl_s": TOOL_ARGUMENTS["ttl_s"],
}
# Over HTTP even lone surrogates arrive: in a JSON body Python writes them as \ud800, in a path
# they become bytes that are not UTF-8. (A query string is encoded by requests, which refuses.)
http_texts = st.one_of(texts, st.text(st.characters(exclude_categories=()), max_size=50))
query_values = st.one_of(
    texts.filter(lambda text: len(text) < 4000),
    ints.map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "-0", "0x10", "1_000", "\uff11", " 1", "1 "]),
)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300).map(
    str.strip  # requests refuses a header value with leading or trailing white space
)


def segment(value: str) -> str:
    """``value`` as one path segment, percent-encoded so the relay receives it as it is."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


# Request heads stay well under uvicorn's 64 KiB limit: past it the connection is refused
# before the relay sees the request (test_abuse.py checks that).
path_texts = st.one_of(names, http_texts).filter(lambda text: len(segment(text)) < 16_000)


def http(relay, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**relay.headers("alpha"), **kwargs.pop("headers", {})}
    return requests.request(method, relay.url + path, headers=headers, timeout=10, **kwargs)


@fuzz(120)
@given(route=st.sampled_from(SESSION_ROUTES), name=path_texts)
def test_hostile_session_names_in_every_session_route(relay, fuzz_sessions, route, name):
    method, suffix = route
    body = {"up_to_id": 0} if suffix == "/read" else {"text": "x"} if method == "POST" else None
    answer = http(relay, method, f"/api/v1/sessions/{segment(name)}{suffix}", json=body)
    assert_structured(answer)


@fuzz(120)
@given(
    path=st.sampled_from(["/api/v1/sessions/hz-one/messages", "/api/v1/wait", "/api/v1/sessions"]),
    params=st.dictionaries(
        st.sampled_from(["after", "limit", "wait", "timeout", "include_closed", "x"]),
        query_values,
    ),
)
def test_hostile_query_parameters(relay, fuzz_sessions, path, params):
    for key in ("wait", "timeout"):  # keep long polls short; absent or empty means 30 s
        try:
            if not params.get(key) or 0 < float(params[key]) <= 300:
                params[key] = "0.05"
        except ValueError:
            pass
    assert_structured(http(relay, "GET", path, params=params))


@fuzz(120)
@given(message_id=st.one_of(ints.map(str), path_texts))
def test_hostile_message_ids(relay, message_id):
    assert_structured(http(relay, "GET", f"/api/v1/messages/{segment(message_id)}"))


# Valid bodies for each JSON route, which mutations then break in one place: random bodies are
# refused at the first check (113 of 120 were), so they never reach the service's own checks.
message_texts = st.text(ANY_CHAR, min_size=1, max_size=200).filter(str.strip)
VALID_BODIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "/api/v1/sessions": st.fixed_dictionaries(
        {"name": valid_names.map(lambda name: f"jz-{name}"), "participants": st.just(["beta"])},
        optional={"description": st.text(ANY_CHAR, max_size=100)},
    ),
    "/api/v1/sessions/hz-one/invite": st.fixed_dictionaries(
        {"clients": st.lists(valid_names, min_size=1, max_size=3, unique=True)}
    ),
    "/api/v1/sessions/hz-one/messages": st.fixed_dictionaries(
        {"text": message_texts}, optional={"to": st.just(["beta"])}
    ),
    "/api/v1/sessions/hz-one/read": st.fixed_dictionaries({"up_to_id": st.integers(0, 2**31)}),
}
assert set(VALID_BODIES) == set(JSON_ROUTES)


@st.composite
def json_requests(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid request to a JSON route, as it is (half the time) or with one thing wrong: a
    field's value hostile, a field missing, a field added, or the whole body replaced."""
    path = draw(st.sampled_from(JSON_ROUTES))
    body = draw(VALID_BODIES[path])
    how = draw(st.sampled_from(["as-is"] * 5 + ["hostile value"] * 3 + ["drop", "add", "whole"]))
    if how == "hostile value":
        key = draw(st.sampled_from(sorted(body)))
        body[key] = draw(st.one_of(BODY_FIELDS[key], st.fixed_dictionaries({key: http_texts})))
    elif how == "drop":
        del body[draw(st.sampled_from(sorted(body)))]
    elif how == "add":
        key = draw(st.sampled_from([*sorted(set(BODY_FIELDS) - set(body)), "x"]))
        body[key] = draw(BODY_FIELDS.get(key, json_values))
    elif how == "whole":
        return path, draw(json_values)
    return path, body


def test_hostile_json_bodies_get_an_answer_and_most_reach_the_service(relay, fuzz_sessions):
    statuses: list[int] = []

    @fuzz(120)
    @given(request=json_requests())
    def hostile_json_body(request: tuple[str, Any]) -> None:
        path, body = request
        answer = http(relay, "POST", path, json=body)
        assert_structured(answer)
        statuses.append(answer.status_code)

    hostile_json_body()
    # Past every check of the request (stored, or a session that already exists): proof the
    # examples got deep, not only refused at the door. 7 of 120 did before; about half do now.
    deep = [status for status in statuses if 200 <= status < 300 or status == 409]
    assert len(deep) >= len(statuses) // 4, sorted(statuses)


@fuzz(120)
@given(
    path=st.sampled_from(JSON_ROUTES),
    body=st.one_of(
        st.binary(max_size=300),
        st.sampled_from(
            [
                b'{"text": "a", "text": "b"}',
                b'{"text": NaN}',
                b'{"up_to_id": Infinity}',
                b'{"text": "\\ud800"}',
                b'{"text": "x"' + b" " * 10_000,
                b"\xef\xbb\xbf{}",
                b'\xff\xfe{\x00"\x00}\x00',
                b'{"name": "a"}\x00',
                b"[" * 50_000,
                b'{"up_to_id": ' + b"9" * 5000 + b"}",
                b'{"reply_to": 1e400, "text": "x"}',
            ]
        ),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; x"]),
)
def test_hostile_raw_bodies(relay, fuzz_sessions, path, body, content_type):
    answer = http(relay, "POST", path, data=body, headers={"Content-Type": content_type})
    assert_structured(answer)


@fuzz(120)
@given(
    method=st.sampled_from(["HEAD", "GET", "PUT"]),
    digest=st.one_of(hex_digests, path_texts),
    range_header=st.one_of(
        st.none(),
        st.from_regex(r"bytes=[0-9]{0,25}-[0-9]{0,25}", fullmatch=True),
        header_values,
    ),
    body=st.binary(max_size=64),
)
def test_hostile_digests_and_ranges_in_the_blob_routes(
    relay, blob, method, digest, range_header, body
):
    headers = {"Range": range_header} if range_header else {}
    if method == "PUT":
        answer = http(relay, method, f"/blobs/{segment(digest)}", data=body, headers=headers)
    else:
        answer = http(relay, method, f"/blobs/{segment(digest)}", headers=headers)
    assert_structured(answer)


BLOB_BYTES = b"0123456789"
"""What the ``blob`` fixture stored."""
range_headers = st.one_of(
    st.sampled_from(["bytes=0-", "bytes=0-0", "bytes=-1", "bytes=9-", "bytes=10-", "bytes=-0"]),
    st.from_regex(r"bytes=[0-9]{0,2}-[0-9]{0,2}", fullmatch=True),
    st.from_regex(r"bytes=[0-9]{0,25}-[0-9]{0,25}", fullmatch=True),
    st.from_regex(
        r"[a-zA-Z]{0,6}= ?-?[0-9]{0,3} ?- ?[0-9]{0,3}(, ?[0-9]{0,2}-[0-9]{0,2})?", fullmatch=True
    ),
    header_values,
)


def assert_range_answer(answer: requests.Response) -> None:
    """A GET of the 10-byte ``blob`` is the whole file, a slice of it, or 416 with its size."""
    assert_structured(answer)
    assert answer.status_code in (200, 206, 416), (answer.status_code, answer.text[:300])
    if answer.status_code == 200:
        assert answer.content == BLOB_BYTES
    elif answer.status_code == 206:
        span, _, total = answer.headers["content-range"].removeprefix("bytes ").partition("/")
        first, _, last = span.partition("-")
        assert total == str(len(BLOB_BYTES))
        assert answer.content == BLOB_BYTES[int(first) : int(last) + 1] != b""
    else:
        assert answer.headers["content-range"] == f"bytes */{len(BLOB_BYTES)}"


def test_hostile_range_headers_on_a_stored_file_get_the_file_a_slice_or_416(relay, blob):
    # On a file that exists, so the Range parsing and the ranged read are what is exercised.
    seen: set[int] = set()

    @fuzz(120)
    @given(range_header=range_headers)
    def get_with(range_header: str) -> None:
        answer = http(relay, "GET", f"/blobs/{blob}", headers={"Range": range_header})
        assert_range_answer(answer)
        seen.add(answer.status_code)

    get_with()
    assert seen == {200, 206, 416}


@fuzz(120)
@given(client_id=header_values, authorization=st.one_of(st.none(), header_values))
def test_hostile_identity_headers_are_refused_or_accepted_never_a_500(
    relay, client_id, authorization
):
    headers = {"X-Client-Id": client_id}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = requests.get(relay.url + "/api/v1/whoami", headers=headers, timeout=10)
    assert_structured(answer)
    assert answer.status_code in (400, 401)  # none of these is the relay's token


@fuzz(120)
@example(client_id="caf\xe9")  # Latin-1 on the wire: not ASCII, not UTF-8
@example(client_id="\xff\xfe")
@example(client_id="alpha\x7f")
@example(client_id="a" * 300)
@given(client_id=header_values)
def test_hostile_client_ids_with_the_relays_token_are_parsed_never_a_500(relay, client_id):
    # With the real token the relay gets past the token check and parses X-Client-Id itself.
    headers = {"X-Client-Id": client_id, "Authorization": f"Bearer {relay.token}"}
    answer = requests.get(relay.url + "/api/v1/whoami", headers=headers, timeout=10)
    assert_structured(answer)
    if answer.status_code == 200:
        assert answer.json()["client_id"] == client_id
    elif client_id:
        assert error_code(answer) == "invalid", client_id
    else:
        assert error_code(answer) == "unauthorized"  # no client id at all

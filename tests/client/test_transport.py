"""The stdlib JSON client of ``agent-relay send`` (relay_client/transport.py) over real sockets.

It shares the answer and retry rules with RelayClient, so the same answer must become the same
error through both: the parity tests run both clients against one real loopback server (no
``responses`` here: the stdlib client does not use requests).
"""

from __future__ import annotations

import socket

import pytest

from relay_client import ClientConfig
from relay_client.api import MisdirectedHost, RelayClient, RelayFailed
from relay_client.transport import JsonClient, identity_headers
from relay_core import Conflict, NotFound, RelayError, TooLarge, Unavailable, wire

ME = "alice-laptop"
MESSAGES = "/api/v1/sessions/build-42/messages"


def json_client(url: str, **options: float) -> JsonClient:
    return JsonClient(url, identity_headers(ME, "t0k"), backoff_s=0.0, **options)


def both_clients(url: str) -> list[JsonClient | RelayClient]:
    return [json_client(url), RelayClient(url, ME, "t0k", backoff_s=0.0)]


def failure(client: JsonClient | RelayClient) -> RelayError:
    """The error of ``GET /api/v1/messages/7`` through either client."""
    with pytest.raises(RelayError) as caught:
        client.get_message(7)
    return caught.value


def test_a_message_is_posted_once_with_its_body_and_identity(loopback_relay, payloads):
    loopback_relay.add("POST", MESSAGES, 201, payloads.sent(12))
    receipt = json_client(loopback_relay.url).send_message("build-42", "hi", to=["bob-ws"])
    assert receipt["id"] == 12
    [call] = loopback_relay.calls
    assert call.json == {"text": "hi", "to": ["bob-ws"], "reply_to": None, "attachments": []}
    assert call.headers["Authorization"] == "Bearer t0k"
    assert call.headers["X-Client-Id"] == ME


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (409, {"error": {"code": "conflict", "message": "closed"}}, Conflict, "closed"),
        (404, None, NotFound, "the relay answered HTTP 404 Not Found"),
        (502, None, RelayFailed, "the relay failed with HTTP 502 Bad Gateway"),
        (421, None, MisdirectedHost, "refused the host name '127.0.0.1'"),
    ],
)
def test_an_error_answer_is_the_same_error_through_both_clients(
    loopback_relay, status, body, cls, message
):
    if body is None:
        loopback_relay.add("GET", "/api/v1/messages/7", status, body=b"<html>proxy</html>")
    else:
        loopback_relay.add("GET", "/api/v1/messages/7", status, body)
    errors = [failure(client) for client in both_clients(loopback_relay.url)]
    assert [type(error) for error in errors] == [cls, cls]
    assert errors[0].message == errors[1].message
    assert message in errors[0].message


def test_a_refused_connection_is_the_same_sentence_through_both_clients():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    errors = [failure(client) for client in both_clients(url)]
    assert [type(error) for error in errors] == [Unavailable, Unavailable]
    assert errors[0].message == errors[1].message
    assert "connection refused — is `agent-relay-server serve` running?" in errors[0].message


def test_a_get_is_retried_after_a_503(loopback_relay, payloads):
    loopback_relay.add("GET", "/api/v1/messages/7", 503, {"error": {"code": "unavailable"}})
    loopback_relay.add("GET", "/api/v1/messages/7", 200, payloads.message(7))
    assert json_client(loopback_relay.url).get_message(7)["id"] == 7
    assert len(loopback_relay.calls) == 2


def test_a_post_is_never_retried(loopback_relay):
    answer = {"error": {"code": "unavailable", "message": "shutting down"}}
    loopback_relay.add("POST", MESSAGES, 503, answer)
    with pytest.raises(Unavailable, match="shutting down"):
        json_client(loopback_relay.url).send_message("build-42", "hi")
    assert len(loopback_relay.calls) == 1


def test_a_relay_that_does_not_answer_in_time_is_unavailable(loopback_relay, payloads):
    loopback_relay.add("POST", MESSAGES, 201, payloads.sent(1), delay_s=1.0)
    client = json_client(loopback_relay.url, read_timeout_s=0.2)
    with pytest.raises(Unavailable, match=r"did not answer within 0.2 s"):
        client.send_message("build-42", "hi")


def test_an_answer_that_is_not_json_is_reported(loopback_relay):
    loopback_relay.add("GET", "/api/v1/messages/7", 200, body=b"<html>captive portal</html>")
    with pytest.raises(RelayError, match="not JSON"):
        json_client(loopback_relay.url).get_message(7)


def test_a_receipt_without_an_id_is_reported(loopback_relay):
    loopback_relay.add("POST", MESSAGES, 201, {"ok": True})
    with pytest.raises(RelayError, match="unexpected answer"):
        json_client(loopback_relay.url).send_message("build-42", "hi")


def test_an_oversized_text_is_too_large_before_anything_is_sent(loopback_relay):
    text = "x" * (wire.MAX_SENT_TEXT_BYTES + 1)
    with pytest.raises(TooLarge):
        json_client(loopback_relay.url).send_message("build-42", text)
    assert not loopback_relay.calls


def test_only_a_plain_http_relay_gets_the_stdlib_client():
    http = ClientConfig(relay_url="http://relay.lan:7878", client_id=ME, token="t0k")
    https = ClientConfig(relay_url="https://relay.example.org", client_id=ME, token="t0k")
    assert JsonClient.for_config(http) is not None
    assert JsonClient.for_config(https) is None  # TLS settings live in RelayClient

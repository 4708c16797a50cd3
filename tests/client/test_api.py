import email.utils
import hashlib
import io
import os
import time

import pytest
import requests
import responses
from responses import matchers

from relay_client import DigestMismatch, RelayClient, partial_path
from relay_client.api import LONG_POLL_MARGIN_S, USER_AGENT
from relay_core import RelayError, wire
from relay_core.errors import ERROR_CLASSES

RELAY = "http://127.0.0.1:7878"
DATA = os.urandom(3 * 1024 * 1024 + 17)
DIGEST = hashlib.sha256(DATA).hexdigest()
BLOB = f"{RELAY}/blobs/{DIGEST}"


@pytest.fixture
def client():
    with RelayClient(RELAY, "alice-laptop", "tok-123", backoff_s=0) as relay:
        yield relay


def test_every_call_carries_the_token_client_id_and_user_agent(client, relay_http, payloads):
    relay_http.get(f"{RELAY}/api/v1/whoami", json=payloads.whoami())
    assert client.whoami().client_id == "alice-laptop"
    headers = relay_http.calls[0].request.headers
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["X-Client-Id"] == "alice-laptop"
    assert headers["User-Agent"] == USER_AGENT


def test_an_open_relay_gets_no_authorization_header(relay_http, payloads):
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    RelayClient(RELAY, "alice").health()
    assert "Authorization" not in relay_http.calls[0].request.headers


def test_every_call_has_a_connect_and_a_read_timeout(client, relay_http, payloads):
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    client.health()
    assert relay_http.calls[0].request.req_kwargs["timeout"] == (5.0, 30.0)


def test_a_long_poll_waits_longer_than_its_wait(client, relay_http, payloads):
    relay_http.get(
        f"{RELAY}/api/v1/sessions/build-42/messages",
        json=payloads.page(timed_out=True, after=3),
        match=[matchers.query_param_matcher({"after": "3", "wait": "60"})],
    )
    page = client.read_messages("build-42", after=3, wait_s=60.0)
    assert page.timed_out
    assert relay_http.calls[0].request.req_kwargs["timeout"] == (5.0, 60.0 + LONG_POLL_MARGIN_S)


@pytest.mark.parametrize("cls", list(ERROR_CLASSES.values()), ids=lambda c: c.code)
def test_an_error_answer_becomes_the_relay_core_error_of_its_code(client, relay_http, cls):
    relay_http.get(
        f"{RELAY}/api/v1/sessions/build-42",
        status=cls.http_status,
        json={"error": {"code": cls.code, "message": "the relay's words"}},
    )
    with pytest.raises(RelayError) as caught:
        client.get_session("build-42")
    assert type(caught.value) is cls
    assert caught.value.code == cls.code
    assert caught.value.message == "the relay's words"


def test_an_internal_error_keeps_the_relays_message(client, relay_http, payloads):
    relay_http.get(f"{RELAY}/api/v1/status", status=500, json=payloads.error("internal", "bug #12"))
    with pytest.raises(RelayError) as caught:
        client.status()
    assert caught.value.code == "internal"
    assert caught.value.message == "bug #12"


def test_an_error_without_our_json_is_classified_by_its_status(client, relay_http):
    relay_http.get(f"{RELAY}/api/v1/status", status=401, body="<html>no</html>")
    with pytest.raises(RelayError) as caught:
        client.status()
    assert caught.value.code == "unauthorized"
    assert "HTTP 401" in caught.value.message


def test_a_proxy_error_page_is_an_internal_error_naming_the_status(client, relay_http):
    relay_http.get(f"{RELAY}/api/v1/status", status=502, body="Bad Gateway")
    with pytest.raises(RelayError) as caught:
        client.status()
    assert caught.value.code == "internal"
    assert "HTTP 502" in caught.value.message


def test_a_refused_connection_is_unavailable_with_a_sentence_that_says_what_to_check(client):
    with responses.RequestsMock() as mock:
        mock.get(
            f"{RELAY}/healthz", body=requests.ConnectionError("[Errno 111] Connection refused")
        )
        mock.get(
            f"{RELAY}/healthz", body=requests.ConnectionError("[Errno 111] Connection refused")
        )
        mock.get(
            f"{RELAY}/healthz", body=requests.ConnectionError("[Errno 111] Connection refused")
        )
        with pytest.raises(RelayError) as caught:
            client.health()
    assert caught.value.code == "unavailable"
    assert caught.value.message == (
        f"cannot reach the relay at {RELAY}: connection refused — "
        "is `agent-relay-server serve` running?"
    )


def test_a_connect_timeout_is_unavailable(client, relay_http):
    relay_http.get(f"{RELAY}/healthz", body=requests.ConnectTimeout("timed out"))
    with pytest.raises(RelayError) as caught:
        client.health()
    assert caught.value.code == "unavailable"
    assert "connection timed out after 5 s" in caught.value.message


def test_a_read_timeout_is_unavailable_and_not_retried(client, relay_http):
    relay_http.get(f"{RELAY}/healthz", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(RelayError) as caught:
        client.health()
    assert caught.value.code == "unavailable"
    assert "did not answer within 30 s" in caught.value.message
    assert len(relay_http.calls) == 1


def test_a_get_is_retried_after_a_connection_error(client, relay_http, payloads):
    relay_http.get(f"{RELAY}/healthz", body=requests.ConnectionError("reset"))
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    assert client.health().status == "ok"
    assert len(relay_http.calls) == 2


def test_a_get_is_retried_after_a_503(client, relay_http, payloads):
    relay_http.get(f"{RELAY}/healthz", status=503, json=payloads.error("unavailable", "busy"))
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    assert client.health().status == "ok"


def test_retries_give_up_after_the_configured_number(client, relay_http, payloads):
    relay_http.get(f"{RELAY}/healthz", status=503, json=payloads.error("unavailable", "busy"))
    with pytest.raises(RelayError) as caught:
        client.health()
    assert caught.value.code == "unavailable"
    assert len(relay_http.calls) == 3


def test_a_post_is_never_retried(client, relay_http, payloads):
    url = f"{RELAY}/api/v1/sessions/build-42/messages"
    relay_http.post(url, body=requests.ConnectionError("[Errno 111] Connection refused"))
    relay_http.post(url, status=503, json=payloads.error("unavailable", "busy"))
    for expected_calls in (1, 2):
        with pytest.raises(RelayError) as caught:
            client.send_message("build-42", "hi")
        assert caught.value.code == "unavailable"
        assert len(relay_http.calls) == expected_calls


def test_a_message_is_sent_with_its_recipients_and_reply(client, relay_http, payloads):
    relay_http.post(
        f"{RELAY}/api/v1/sessions/build-42/messages",
        status=201,
        json=payloads.sent(9),
        match=[
            matchers.json_params_matcher(
                {"text": "hi", "to": ["bob-ws"], "reply_to": 4, "attachments": []}
            )
        ],
    )
    assert client.send_message("build-42", "hi", to=["bob-ws"], reply_to=4).id == 9


def test_an_oversized_text_is_too_large_before_anything_is_sent(client, relay_http):
    with pytest.raises(RelayError) as caught:
        client.send_message("build-42", "x" * (wire.MAX_SENT_TEXT_BYTES + 1))
    assert caught.value.code == "too_large"
    assert not relay_http.calls


def test_a_bad_recipient_is_invalid_before_anything_is_sent(client, relay_http):
    with pytest.raises(RelayError) as caught:
        client.send_message("build-42", "hi", to=["Not Valid"])
    assert caught.value.code == "invalid"
    assert caught.value.message.startswith("to.0:")
    assert not relay_http.calls


def test_a_bad_session_name_never_reaches_a_url(client, relay_http):
    with pytest.raises(RelayError) as caught:
        client.get_session("../admin")
    assert caught.value.code == "invalid"


def test_an_answer_that_breaks_the_contract_is_reported(client, relay_http):
    relay_http.get(f"{RELAY}/api/v1/whoami", json={"client_id": "x"})
    with pytest.raises(RelayError) as caught:
        client.whoami()
    assert caught.value.code == "internal"
    assert "unexpected answer" in caught.value.message


def test_clock_skew_comes_from_the_date_header(client, relay_http, payloads):
    ahead_s = 3600  # the relay's clock an hour ahead of ours, whatever today is
    relay_http.get(
        f"{RELAY}/healthz",
        json=payloads.health(),
        headers={"Date": email.utils.formatdate(time.time() + ahead_s, usegmt=True)},
    )
    assert abs(client.clock_skew_s() - ahead_s) < 5  # the header has whole seconds


# --- uploads ------------------------------------------------------------------------------


def _bytes_of(body):
    """A request body as bytes (responses reads file bodies itself before callbacks run)."""
    return body if isinstance(body, bytes) else body.read()


@pytest.fixture
def upload_file(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    return path


def test_known_content_is_not_uploaded_again(client, relay_http, upload_file):
    relay_http.head(BLOB, headers={"Content-Length": str(len(DATA))})
    result = client.upload_file(upload_file)
    assert (result.sha256, result.size, result.uploaded) == (DIGEST, len(DATA), False)
    assert [c.request.method for c in relay_http.calls] == ["HEAD"]


def test_new_content_is_streamed_with_its_length_and_progress(client, relay_http, upload_file):
    received = {}

    def store(request):
        received["length"] = request.headers["Content-Length"]
        received["body"] = _bytes_of(request.body)
        return 201, {}, f'{{"sha256": "{DIGEST}", "size": {len(DATA)}, "created": true}}'

    relay_http.head(BLOB, status=404)
    relay_http.add_callback(responses.PUT, BLOB, callback=store)
    seen = []
    result = client.upload_file(upload_file, progress=lambda done, total: seen.append(done))
    assert result.uploaded
    assert received["length"] == str(len(DATA))
    assert received["body"] == DATA
    assert seen[-1] == len(DATA)


def test_an_upload_is_retried_from_the_first_byte(client, relay_http, upload_file):
    bodies = []

    def flaky(request):
        bodies.append(_bytes_of(request.body))
        if len(bodies) == 1:
            return requests.ConnectionError("reset by peer")
        return 200, {}, f'{{"sha256": "{DIGEST}", "size": {len(DATA)}}}'

    relay_http.head(BLOB, status=404)
    relay_http.add_callback(responses.PUT, BLOB, callback=flaky)
    assert client.upload_file(upload_file).sha256 == DIGEST
    assert bodies[-1] == DATA


@pytest.mark.parametrize(("status", "code"), [(413, "too_large"), (507, "quota_exceeded")])
def test_an_upload_over_a_limit_is_refused_with_its_code(
    client, relay_http, upload_file, payloads, status, code
):
    relay_http.head(BLOB, status=404)
    relay_http.put(BLOB, status=status, json=payloads.error(code, "over the limit"))
    with pytest.raises(RelayError) as caught:
        client.upload_file(upload_file)
    assert caught.value.code == code


# --- downloads ----------------------------------------------------------------------------


def test_a_download_arrives_verified_and_leaves_no_part_file(client, relay_http, tmp_path):
    relay_http.get(BLOB, body=DATA, headers={"Content-Length": str(len(DATA))})
    seen = []
    download = client.download_blob(
        DIGEST, tmp_path / "out.bin", progress=lambda d, t: seen.append((d, t))
    )
    assert (tmp_path / "out.bin").read_bytes() == DATA
    assert download.resumed_from == 0
    assert seen[-1] == (len(DATA), len(DATA))
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_download_resumes_from_its_part_file_with_a_range(client, relay_http, tmp_path):
    dest = tmp_path / "out.bin"
    partial_path(dest, DIGEST).write_bytes(DATA[:1000])
    relay_http.get(
        BLOB,
        status=206,
        body=DATA[1000:],
        headers={"Content-Range": f"bytes 1000-{len(DATA) - 1}/{len(DATA)}"},
        match=[matchers.header_matcher({"Range": "bytes=1000-"})],
    )
    download = client.download_blob(DIGEST, dest)
    assert download.resumed_from == 1000
    assert dest.read_bytes() == DATA


def test_a_relay_that_ignores_the_range_still_gives_the_right_file(client, relay_http, tmp_path):
    dest = tmp_path / "out.bin"
    partial_path(dest, DIGEST).write_bytes(DATA[:1000])
    relay_http.get(BLOB, body=DATA)
    assert client.download_blob(DIGEST, dest).resumed_from == 0
    assert dest.read_bytes() == DATA


def test_a_part_file_the_relay_cannot_continue_is_started_again(client, relay_http, tmp_path):
    dest = tmp_path / "out.bin"
    partial_path(dest, DIGEST).write_bytes(b"garbage" * 10**6)
    relay_http.get(BLOB, status=416, match=[matchers.header_matcher({"Range": "bytes=7000000-"})])
    relay_http.get(BLOB, body=DATA)
    assert client.download_blob(DIGEST, dest).size == len(DATA)
    assert dest.read_bytes() == DATA


def test_bytes_that_do_not_match_the_digest_are_thrown_away(client, relay_http, tmp_path):
    # The last byte flipped: a fixed b"!" would be no change at all when DATA ends in one.
    relay_http.get(BLOB, body=DATA[:-1] + bytes([DATA[-1] ^ 0xFF]))
    with pytest.raises(DigestMismatch):
        client.download_blob(DIGEST, tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []


def test_a_download_never_replaces_a_file_unless_told(client, relay_http, tmp_path):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"mine")
    with pytest.raises(RelayError) as caught:
        client.download_blob(DIGEST, dest)
    assert caught.value.code == "conflict"
    assert dest.read_bytes() == b"mine"
    relay_http.get(BLOB, body=DATA)
    client.download_blob(DIGEST, dest, overwrite=True)
    assert dest.read_bytes() == DATA


class _BrokenBody(io.RawIOBase):
    """A response body whose connection drops after ``limit`` bytes."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data = io.BytesIO(data[:limit])

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        if not chunk:
            raise ConnectionResetError(104, "Connection reset by peer")
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_an_interrupted_download_keeps_its_part_and_the_next_call_resumes(
    client, relay_http, tmp_path
):
    dest = tmp_path / "out.bin"
    cut = 2 * 1024 * 1024
    relay_http.get(
        BLOB,
        body=io.BufferedReader(_BrokenBody(DATA, cut)),
        headers={"Content-Length": str(len(DATA))},
    )
    with pytest.raises(RelayError) as caught:
        client.download_blob(DIGEST, dest)
    assert caught.value.code == "unavailable"
    assert "run the command again to resume" in caught.value.message
    assert partial_path(dest, DIGEST).stat().st_size == cut
    relay_http.get(
        BLOB,
        status=206,
        body=DATA[cut:],
        headers={"Content-Range": f"bytes {cut}-{len(DATA) - 1}/{len(DATA)}"},
        match=[matchers.header_matcher({"Range": f"bytes={cut}-"})],
    )
    assert client.download_blob(DIGEST, dest).resumed_from == cut
    assert dest.read_bytes() == DATA


def test_a_missing_blob_is_not_found(client, relay_http, tmp_path, payloads):
    relay_http.get(BLOB, status=404, json=payloads.error("not_found", "no such file"))
    with pytest.raises(RelayError) as caught:
        client.download_blob(DIGEST, tmp_path / "x")
    assert caught.value.code == "not_found"

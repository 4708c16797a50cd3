import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from relay_client import ClientConfig, Cursors
from relay_core import wire

RELAY = "http://127.0.0.1:7878"
MESSAGES = f"{RELAY}/api/v1/sessions/build-42/messages"
HTTPS_RELAY = "https://relay.example.org"


# `send` to an http:// relay goes through relay_client.transport's stdlib client, not requests:
# these tests answer it from a real HTTP server on 127.0.0.1 (tests/client/conftest.py).
MESSAGES_PATH = "/api/v1/sessions/build-42/messages"


def test_send_posts_the_text_and_prints_the_id(configured_loopback, loopback_relay, payloads, run):
    loopback_relay.add("POST", MESSAGES_PATH, 201, payloads.sent(12))
    result = run("send", "build-42", "hello")
    assert result.stdout == "Sent #12 to build-42.\n"
    [call] = loopback_relay.calls
    assert call.json == {"text": "hello", "to": [], "reply_to": None, "attachments": []}
    assert call.headers["Authorization"] == f"Bearer {configured_loopback.token}"
    assert call.headers["X-Client-Id"] == configured_loopback.client_id
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["User-Agent"].startswith("agent-relay-client/")


def test_send_reads_stdin_and_resolves_recipients(
    configured_loopback, loopback_relay, payloads, run
):
    run("peers", "add", "bob", "bob-ws")
    loopback_relay.add("POST", MESSAGES_PATH, 201, payloads.sent(13))
    sent = payloads.message(13, sender="alice-laptop", text="line 1\nline 2", to=["bob-ws"])
    loopback_relay.add("GET", "/api/v1/messages/13", 200, sent)
    result = run(
        "send", "build-42", "-", "--to", "bob", "--reply-to", "12", "--json",
        input="line 1\nline 2\n",
    )  # fmt: skip
    # The sent message itself, the same object `tail --json` prints for it.
    assert json.loads(result.stdout) == sent
    assert loopback_relay.calls[0].json == {
        "text": "line 1\nline 2",
        "to": ["bob-ws"],
        "reply_to": 12,
        "attachments": [],
    }


def test_send_to_an_https_relay_goes_through_the_requests_client(
    data_paths, relay_http, payloads, run
):
    ClientConfig(relay_url=HTTPS_RELAY, client_id="alice-laptop", token="t0k").save(
        data_paths.config
    )
    relay_http.post(
        f"{HTTPS_RELAY}{MESSAGES_PATH}",
        status=201,
        json=payloads.sent(14),
        match=[
            matchers.json_params_matcher(
                {"text": "hello", "to": [], "reply_to": None, "attachments": []}
            )
        ],
    )
    result = run("send", "build-42", "hello")
    assert result.stdout == "Sent #14 to build-42.\n"


def test_send_never_moves_the_cursor(
    configured_loopback, loopback_relay, payloads, data_paths, run
):
    Cursors(data_paths.cursors).set("build-42", 5)
    loopback_relay.add("POST", MESSAGES_PATH, 201, payloads.sent(40))
    run("send", "build-42", "hi")
    assert Cursors(data_paths.cursors).get("build-42") == 5


def test_an_empty_message_is_refused(configured_loopback, loopback_relay, run):
    result = run("send", "build-42", "-", input="\n")
    assert result.stderr == "Error: invalid: the message is empty\n"
    assert not loopback_relay.calls


def test_sending_to_a_closed_session_is_a_conflict(
    configured_loopback, loopback_relay, payloads, run
):
    loopback_relay.add(
        "POST", MESSAGES_PATH, 409, payloads.error("conflict", "'build-42' is closed")
    )
    result = run("send", "build-42", "hi")
    assert (result.exit_code, result.stderr) == (6, "Error: conflict: 'build-42' is closed\n")


def test_an_oversized_message_is_too_large(configured_loopback, loopback_relay, run):
    # Past 64 KiB the relay stores a text as an attachment; past 8 MiB it is not taken at all.
    size = wire.MAX_SENT_TEXT_BYTES + 1
    result = run("send", "build-42", "-", input="x" * size)
    assert result.exit_code == 7
    assert result.stderr.startswith(f"Error: too_large: the text is {size} bytes")
    assert not loopback_relay.calls


# --- tail ---------------------------------------------------------------------------------


def page_matcher(**params):
    return matchers.query_param_matcher({k: str(v) for k, v in params.items()})


def test_tail_without_a_cursor_starts_at_the_relays_read_position(
    configured, relay_http, payloads, data_paths, run
):
    relay_http.get(MESSAGES, json=payloads.page(3, 4), match=[page_matcher(limit=500)])
    result = run("tail", "build-42")
    assert result.exit_code == 0, result.output
    assert "#3  " in result.stdout
    assert "    message 4" in result.stdout
    assert Cursors(data_paths.cursors).get("build-42") == 4


def test_tail_starts_after_the_cursor_and_moves_it_to_the_last_printed_id(
    configured, relay_http, payloads, data_paths, run
):
    Cursors(data_paths.cursors).set("build-42", 4)
    relay_http.get(MESSAGES, json=payloads.page(7, 9), match=[page_matcher(after=4, limit=500)])
    run("tail", "build-42")
    assert (data_paths.cursors / "build-42.txt").read_text() == "9\n"


def test_tail_prints_own_messages_and_moves_the_cursor_past_them(
    configured, relay_http, payloads, data_paths, run
):
    page = payloads.page(5)
    page["messages"].append(payloads.message(6, sender="alice-laptop", text="mine"))
    page["next_after_id"] = 6
    relay_http.get(MESSAGES, json=page)
    text = run("tail", "build-42").stdout
    assert "#6  " in text
    assert "  you\n" in text
    assert Cursors(data_paths.cursors).get("build-42") == 6


def test_tail_pages_until_nothing_more_is_waiting(
    configured, relay_http, payloads, data_paths, run
):
    relay_http.get(
        MESSAGES, json=payloads.page(1, 2, has_more=True), match=[page_matcher(limit=500)]
    )
    relay_http.get(MESSAGES, json=payloads.page(3), match=[page_matcher(after=2, limit=500)])
    text = run("tail", "build-42").stdout
    assert [line.split()[0] for line in text.splitlines() if line.startswith("#")] == [
        "#1",
        "#2",
        "#3",
    ]
    assert Cursors(data_paths.cursors).get("build-42") == 3


def test_tail_with_nothing_new_prints_nothing_and_keeps_the_cursor(
    configured, relay_http, payloads, data_paths, run
):
    Cursors(data_paths.cursors).set("build-42", 9)
    relay_http.get(MESSAGES, json=payloads.page(after=9))
    assert run("tail", "build-42").stdout == ""
    assert Cursors(data_paths.cursors).get("build-42") == 9


def test_tail_since_rereads_without_moving_the_cursor_back(
    configured, relay_http, payloads, data_paths, run
):
    Cursors(data_paths.cursors).set("build-42", 9)
    relay_http.get(MESSAGES, json=payloads.page(2, 3), match=[page_matcher(after=1, limit=500)])
    run("tail", "build-42", "--since", "1")
    assert Cursors(data_paths.cursors).get("build-42") == 9


def test_tail_wait_long_polls_once(configured, relay_http, payloads, run):
    relay_http.get(
        MESSAGES,
        json=payloads.page(timed_out=True),
        match=[page_matcher(limit=500, wait=5)],
    )
    result = run("tail", "build-42", "--wait", "5")
    assert result.exit_code == 0
    assert len(relay_http.calls) == 1


def test_tail_json_prints_one_message_per_line(configured, relay_http, payloads, run):
    relay_http.get(MESSAGES, json=payloads.page(3, 4))
    lines = run("tail", "build-42", "--json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [3, 4]


def test_tail_mark_read_moves_the_relays_read_position(configured, relay_http, payloads, run):
    relay_http.get(MESSAGES, json=payloads.page(3, 4))
    relay_http.post(
        f"{RELAY}/api/v1/sessions/build-42/read",
        json={"session": "build-42", "last_read_id": 4, "unread": 0},
        match=[matchers.json_params_matcher({"up_to_id": 4})],
    )
    assert run("tail", "build-42", "--mark-read").exit_code == 0
    assert relay_http.calls[-1].request.method == "POST"


def test_tail_follow_keeps_waiting_and_stops_quietly_on_interrupt(
    configured, relay_http, payloads, data_paths, run
):
    answers = iter(
        [
            payloads.page(1),
            payloads.page(timed_out=True, after=1),
            payloads.page(2),
        ]
    )

    def answer(request):
        try:
            return 200, {}, json.dumps(next(answers))
        except StopIteration:
            raise KeyboardInterrupt from None

    relay_http.add_callback(responses.GET, MESSAGES, callback=answer)
    result = run("tail", "build-42", "--follow")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines() if line[0] == "#"] == [
        "#1",
        "#2",
    ]
    assert "wait=30" in relay_http.calls[1].request.url
    assert "after=1" in relay_http.calls[2].request.url
    assert Cursors(data_paths.cursors).get("build-42") == 2


def test_tail_shows_recipients_replies_and_attachments(configured, relay_http, payloads, run):
    run("peers", "add", "bob", "bob-ws")
    message = payloads.message(
        8,
        to=["alice-laptop"],
        reply_to=7,
        attachments=[{"sha256": "a" * 64, "filename": "r.pdf", "size": 2048, "mime": None}],
    )
    relay_http.get(MESSAGES, json={"messages": [message], "next_after_id": 8, "has_more": False})
    text = run("tail", "build-42").stdout
    assert "  bob -> you  (reply to #7)" in text
    assert "[file] r.pdf  2.0 KiB  sha256 aaaaaaaaaaaa  (agent-relay fetch-file 8)" in text


@pytest.mark.parametrize("wait", ["0", "301", "x"])
def test_tail_refuses_a_wait_outside_the_relays_bounds(configured, run, wait):
    result = run("tail", "build-42", "--wait", wait)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_tail_follow_waits_out_an_outage_with_growing_pauses_and_says_so_once(
    configured, relay_http, payloads, data_paths, run, monkeypatch
):
    pauses: list[float] = []
    monkeypatch.setattr("relay_client.cli.messages.time.sleep", pauses.append)
    monkeypatch.setattr("relay_client.transport.random.uniform", lambda low, high: 1.0)
    refused = requests.ConnectionError("[Errno 111] Connection refused")
    answers = iter(
        [
            (200, payloads.page(1)),
            (500, "Internal Server Error"),  # a relay stopping answers parked waits so
            *[(None, refused)] * 3 * 9,  # 9 attempts, each with its 2 quick retries
            (503, payloads.error("unavailable", "starting")),
            (503, payloads.error("unavailable", "starting")),
            (503, payloads.error("unavailable", "starting")),
            (200, payloads.page(2)),
            (200, payloads.page(timed_out=True, after=2)),
        ]
    )

    def answer(request):
        try:
            status, body = next(answers)
        except StopIteration:
            raise KeyboardInterrupt from None
        if status is None:
            raise body
        text = body if isinstance(body, str) else json.dumps(body)
        return status, {}, text

    relay_http.add_callback(responses.GET, MESSAGES, callback=answer)
    result = run("tail", "build-42", "--follow")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines() if line[0] == "#"] == [
        "#1",
        "#2",
    ]
    afters = [
        parse_qs(urlsplit(call.request.url).query).get("after", ["-"])[0]
        for call in relay_http.calls
    ]
    assert afters[0] == "-"
    assert set(afters[1:-2]) == {"1"}  # every attempt while away carries on after #1
    assert afters[-2:] == ["2", "2"]
    outage = [p for p in pauses if p >= 0.5]
    assert outage == [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
    notices = result.stderr.splitlines()
    assert len(notices) == 2
    assert notices[0].startswith("agent-relay: relay unavailable (the relay failed with HTTP 500")
    assert notices[1].startswith("agent-relay: reconnected after ")
    assert notices[1].endswith("reading on after #1")
    assert Cursors(data_paths.cursors).get("build-42") == 2


def test_tail_without_follow_still_stops_at_an_outage(configured, relay_http, run):
    relay_http.get(MESSAGES, body=requests.ConnectionError("[Errno 111] Connection refused"))
    result = run("tail", "build-42")
    assert result.exit_code == 9
    assert result.stderr.startswith("Error: unavailable: cannot reach the relay")

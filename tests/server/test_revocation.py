"""A replaced or removed per-client token loses what it still holds open on a running relay.

Authentication refuses the old token from the next request on (test_auth.py); here: the MCP
session and event stream (live push) opened with it are closed, and a long-poll it parked is
answered ``401``, while what the new token opens keeps working. A real relay process, real HTTP,
the admin command in its own process.
"""

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

CHANNEL = "notifications/claude/channel"
DEADLINE_S = 10
END = object()
"""Put on a stream's queue when the relay ended the stream."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(relay, token: str, path: str, body: dict) -> dict:
    answer = requests.post(relay.url + path, headers=bearer(token), json=body, timeout=10)
    assert answer.status_code in {200, 201}, answer.text
    return answer.json()


class McpSession:
    """An MCP session opened over raw HTTP, as Claude Code does, with its GET event stream."""

    def __init__(self, relay, token: str, client_id: str | None = None) -> None:
        self.relay = relay
        self.token = token
        headers = {**bearer(token), "Accept": "application/json, text/event-stream"}
        if client_id is not None:  # an open relay's identity
            headers["X-Client-Id"] = client_id
        opened = requests.post(
            relay.mcp_url,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "revocation-test", "version": "1"},
                },
            },
            timeout=10,
        )
        assert opened.status_code == 200, opened.text
        self.session_id = opened.headers["mcp-session-id"]
        self.headers = {
            **headers,
            "Mcp-Session-Id": self.session_id,
            "MCP-Protocol-Version": "2025-11-25",
        }
        assert self.notify_initialized(token) == 202
        self.received: queue.Queue[object] = queue.Queue()

    def notify_initialized(self, token: str) -> int:
        """POST a notification on this session with ``token``; the status."""
        return requests.post(
            self.relay.mcp_url,
            headers={**self.headers, **bearer(token)},
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            timeout=10,
        ).status_code

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Hold the GET stream open; channel events go to ``received``, then END if it ends."""
        answer = requests.get(
            self.relay.mcp_url,
            headers={**self.headers, "Accept": "text/event-stream"},
            stream=True,
            timeout=(10, 60),
        )
        assert answer.status_code == 200, answer.text

        def read() -> None:
            try:
                for line in answer.iter_lines():
                    if line.startswith(b"data:"):
                        event = json.loads(line.removeprefix(b"data:"))
                        if event.get("method") == CHANNEL:
                            self.received.put(event["params"]["content"])
            except Exception:
                if not closing.is_set():
                    raise
                return  # the test closed the stream itself, after a failure
            self.received.put(END)

        closing = threading.Event()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            yield
        finally:
            if reader.is_alive():  # end the session, which ends its stream
                requests.delete(self.relay.mcp_url, headers=self.headers, timeout=10)
            reader.join(timeout=DEADLINE_S)
            closing.set()
            answer.close()

    def next_event(self) -> object:
        """The next channel event's text, or END; fails after the deadline."""
        try:
            return self.received.get(timeout=DEADLINE_S)
        except queue.Empty:
            pytest.fail(f"nothing on the stream of {self.session_id[:8]} in {DEADLINE_S} s")


@pytest.fixture
def per_client_relay(start_relay):
    relay = start_relay(token=None, auth_mode="per-client")
    relay.tokens = {"alpha": relay.add_client("alpha"), "beta": relay.add_client("beta")}
    post(
        relay, relay.tokens["beta"], "/api/v1/sessions", {"name": "work", "participants": ["alpha"]}
    )
    return relay


def test_a_replaced_tokens_event_stream_ends_and_the_new_tokens_gets_the_pushes(
    per_client_relay,
):
    relay = per_client_relay
    beta, old = relay.tokens["beta"], relay.tokens["alpha"]
    messages = "/api/v1/sessions/work/messages"
    before = McpSession(relay, old)
    with before.stream():
        post(relay, beta, messages, {"text": "before the change"})
        assert before.next_event() == "before the change"  # the stream is live and pushed to

        new = relay.add_client("alpha")
        # Nothing reaches the relay until someone's request: the next one (here beta's send)
        # notices the change; the old stream ends, and the message is not pushed to it.
        post(relay, beta, messages, {"text": "after the change"})
        assert before.next_event() is END

    assert before.notify_initialized(old) == 401
    assert before.notify_initialized(new) == 404  # the session is gone, not carried over
    after = McpSession(relay, new)
    with after.stream():
        post(relay, beta, messages, {"text": "to the new token"})
        assert after.next_event() == "to the new token"
        assert after.notify_initialized(new) == 202
    # The ended stream had answered already: it is cut, never answered a second time.
    assert "Traceback" not in relay.log()


def test_a_session_of_the_new_token_survives_while_the_old_ones_close(per_client_relay):
    relay = per_client_relay
    beta, old = relay.tokens["beta"], relay.tokens["alpha"]
    before = McpSession(relay, old)
    new = relay.add_client("alpha")
    after = McpSession(relay, new)  # this request noticed the change: the old session is closed
    with after.stream():
        post(relay, beta, "/api/v1/sessions/work/messages", {"text": "only the new one"})
        assert after.next_event() == "only the new one"
        assert before.notify_initialized(new) == 404
        assert after.notify_initialized(new) == 202


def test_a_removed_tokens_stream_ends_and_other_clients_keep_theirs(per_client_relay):
    relay = per_client_relay
    alpha, beta = McpSession(relay, relay.tokens["alpha"]), McpSession(relay, relay.tokens["beta"])
    with alpha.stream(), beta.stream():
        relay.admin("remove-client", "alpha")
        post(relay, relay.tokens["beta"], "/api/v1/sessions", {"name": "after"})
        assert alpha.next_event() is END
        assert beta.notify_initialized(relay.tokens["beta"]) == 202
    assert alpha.notify_initialized(relay.tokens["alpha"]) == 401


def test_a_long_poll_parked_with_a_replaced_token_is_answered_401(per_client_relay):
    relay = per_client_relay
    beta, old = relay.tokens["beta"], relay.tokens["alpha"]
    answers: queue.Queue[requests.Response] = queue.Queue()

    def long_poll() -> None:
        answers.put(
            requests.get(relay.url + "/api/v1/wait?timeout=60", headers=bearer(old), timeout=90)
        )

    waiter = threading.Thread(target=long_poll, daemon=True)
    waiter.start()
    relay.add_client("alpha")  # a process start: the long-poll has long been parked by now
    post(relay, beta, "/api/v1/sessions/work/messages", {"text": "not for the old token"})
    answer = answers.get(timeout=DEADLINE_S)
    waiter.join()
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert "replaced or removed while this request waited" in answer.json()["error"]["message"]
    assert "not for the old token" not in answer.text


def test_an_mcp_wait_parked_with_a_replaced_token_ends_without_the_message(per_client_relay):
    relay = per_client_relay
    beta, old = relay.tokens["beta"], relay.tokens["alpha"]
    before = McpSession(relay, old)
    answers: queue.Queue[requests.Response] = queue.Queue()
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "wait_for_messages", "arguments": {"timeout_s": 60}},
    }

    def wait() -> None:
        answers.put(requests.post(relay.mcp_url, headers=before.headers, json=call, timeout=90))

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    relay.add_client("alpha")  # a process start: the call has long been parked by now
    post(relay, beta, "/api/v1/sessions/work/messages", {"text": "not for the old token"})
    answer = answers.get(timeout=DEADLINE_S)
    waiter.join()
    assert "not for the old token" not in answer.text
    assert before.notify_initialized(old) == 401


def test_a_send_in_flight_when_its_token_is_replaced_still_lands(per_client_relay):
    """Only a GET is cut: a write let in before the change finishes and is reported as done,
    never written and yet answered 401."""
    relay = per_client_relay
    beta, old = relay.tokens["beta"], relay.tokens["alpha"]
    body = json.dumps({"text": "sent before the change"}).encode()
    rest_may_go = threading.Event()
    answers: dict[str, queue.Queue[requests.Response]] = {
        "send": queue.Queue(),
        "poll": queue.Queue(),
    }

    def chunks() -> Iterator[bytes]:
        yield body[:8]  # the request is in, its body not: still running when the token goes
        rest_may_go.wait(DEADLINE_S)
        yield body[8:]

    def send() -> None:
        headers = {**bearer(old), "Content-Type": "application/json"}
        url = relay.url + "/api/v1/sessions/work/messages"
        answers["send"].put(requests.post(url, headers=headers, data=chunks(), timeout=30))

    def long_poll() -> None:  # parked too: its 401 says the sweep has run
        url = relay.url + "/api/v1/wait?timeout=60"
        answers["poll"].put(requests.get(url, headers=bearer(old), timeout=90))

    threads = [threading.Thread(target=f, daemon=True) for f in (send, long_poll)]
    for thread in threads:
        thread.start()
    relay.add_client("alpha")  # a process start: both requests are long in by now
    post(relay, beta, "/api/v1/sessions/work/messages", {"text": "starts the sweep"})
    assert answers["poll"].get(timeout=DEADLINE_S).status_code == 401
    rest_may_go.set()
    sent = answers["send"].get(timeout=DEADLINE_S)
    for thread in threads:
        thread.join(DEADLINE_S)
    assert sent.status_code == 201, sent.text
    read = requests.get(
        relay.url + "/api/v1/sessions/work/messages", headers=bearer(beta), timeout=10
    )
    assert "sent before the change" in read.text


def test_an_open_relay_keeps_an_mcp_session_whose_client_changes_its_token(start_relay):
    """Open mode reads no token: one that changes mid-session (or comes and goes) is not a
    replaced token, and the session stays open."""
    relay = start_relay(token=None)
    session = McpSession(relay, "first", client_id="alpha")
    assert session.notify_initialized("second") == 202
    assert session.notify_initialized("first") == 202

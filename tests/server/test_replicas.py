"""Two relays on one PostgreSQL database: a message stored through one wakes the waiters of the
other (LISTEN/NOTIFY), through every kind of wait, and a cut listening connection loses nothing.

Each relay here is served in-process (``start_relay``) on the same fresh schema, as two replica
processes would be; only the SIGKILL test needs processes.
"""

from __future__ import annotations

import statistics
import threading
import time

import anyio
import psycopg
import pytest
import requests

from tests.server.test_push import ChannelInbox, live_client

API = "/api/v1"


def call(relay, client: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, relay.url + API + path, headers=relay.headers(client), timeout=30, **kwargs
    )


def send(relay, client: str, session: str, text: str) -> int:
    answer = call(relay, client, "POST", f"/sessions/{session}/messages", json={"text": text})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def waiting(relay, after: int) -> tuple[threading.Thread, list[requests.Response]]:
    """beta's long poll of ``team`` after ``after`` on ``relay``, in a thread, parked on the
    relay's event hub when this returns; its answer lands in the list."""
    answer: list[requests.Response] = []
    path = f"/sessions/team/messages?after={after}&wait=20"
    thread = threading.Thread(target=lambda: answer.append(call(relay, "beta", "GET", path)))
    thread.start()
    relay.wait_for_listeners(1)
    return thread, answer


@pytest.fixture
def replicas(start_relay, postgres_url):
    """Two relays sharing one fresh PostgreSQL schema, and a session ``team`` of alpha, beta."""
    pair = [start_relay(database_url=postgres_url) for _ in range(2)]
    body = {"name": "team", "participants": ["beta"]}
    assert call(pair[0], "alpha", "POST", "/sessions", json=body).status_code == 201
    return pair


def listener_of(relay):
    return relay._thread.relay.replicas.listener


def test_a_long_poll_on_one_replica_wakes_within_milliseconds_of_a_send_on_the_other(replicas):
    one, two = replicas
    after = 0
    latencies: list[float] = []
    sends: list[float] = []
    for round_ in range(20):
        waiter, answer = waiting(two, after)
        sent_at = time.perf_counter()
        message_id = send(one, "alpha", "team", f"round {round_}")
        sends.append((time.perf_counter() - sent_at) * 1000)
        waiter.join(30)
        latencies.append((time.perf_counter() - sent_at) * 1000)
        assert [m["id"] for m in answer[0].json()["messages"]] == [message_id]
        after = message_id
    p50 = statistics.median(latencies)
    print(
        f"send on replica 1 -> long poll answered on replica 2: p50 {p50:.1f} ms"
        f" (the send alone: p50 {statistics.median(sends):.1f} ms)"
    )
    assert p50 < 1000  # woken by the notification, not by the 20 s timeout


@pytest.mark.anyio
async def test_wait_for_messages_and_channel_push_on_one_replica_hear_the_other(replicas):
    one, two = replicas
    inbox = ChannelInbox()
    async with live_client(two, "beta", inbox) as beta:
        await beta.call_tool("whoami", {})
        with anyio.fail_after(10):
            while two.listeners() < 1:  # the push feed watches beta
                await anyio.sleep(0.01)
        async with anyio.create_task_group() as group:
            waited: list[object] = []

            async def wait() -> None:
                waited.append(
                    await beta.call_tool("wait_for_messages", {"session": "team", "timeout_s": 20})
                )

            group.start_soon(wait)
            with anyio.fail_after(10):
                while two.listeners() < 2:
                    await anyio.sleep(0.01)
            ids = [
                await anyio.to_thread.run_sync(send, one, "alpha", "team", f"m{i}")
                for i in range(3)
            ]
        events = await inbox.wait_for(3)
    assert [int(e.meta["message_id"]) for e in events] == ids  # in order, each once
    assert [e.content for e in events] == ["m0", "m1", "m2"]
    assert "m0" in str(waited[0])


def test_a_member_invited_through_one_replica_is_one_at_once_on_the_other(replicas):
    one, two = replicas
    # beta's read fills replica 2's roster cache with the session as it is now
    assert call(two, "beta", "GET", "/sessions/team/messages").status_code == 200
    invited = call(one, "alpha", "POST", "/sessions/team/invite", json={"clients": ["gamma"]})
    assert invited.status_code == 200, invited.text
    deadline = time.monotonic() + 10
    while call(two, "gamma", "GET", "/sessions/team/messages").status_code != 200:
        assert time.monotonic() < deadline, "replica 2 still answers from the old roster"
        time.sleep(0.01)


def test_a_cut_listening_connection_comes_back_and_its_waiters_miss_nothing(replicas, postgres_url):
    one, two = replicas
    listener = listener_of(two)
    good_url = listener.url
    waiter, answer = waiting(two, 0)
    listener.url = good_url.replace("127.0.0.1:5432", "127.0.0.1:1")  # it cannot come back yet
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))
    deadline = time.monotonic() + 10
    while listener.listening:
        assert time.monotonic() < deadline, "the listener did not notice its connection end"
        time.sleep(0.01)
    message_id = send(one, "alpha", "team", "while replica 2 was deaf")
    listener.url = good_url
    waiter.join(30)
    assert listener.connects == 2
    assert [m["id"] for m in answer[0].json()["messages"]] == [message_id]
    # and it hears again: the next send wakes the next waiter well before its timeout
    started = time.monotonic()
    waiter, later = waiting(two, message_id)
    send(one, "alpha", "team", "heard")
    waiter.join(30)
    assert later[0].json()["messages"][0]["text"] == "heard"
    assert time.monotonic() - started < 10

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


def test_sixteen_senders_through_both_replicas_lose_nothing_and_keep_their_order(
    start_relay, postgres_url
):
    pair = [start_relay(database_url=postgres_url) for _ in range(2)]
    senders = [f"s{i:02d}" for i in range(16)]
    body = {"name": "crowd", "participants": senders[1:]}
    assert call(pair[0], senders[0], "POST", "/sessions", json=body).status_code == 201
    per_sender = 15
    acked: dict[str, list[int]] = {s: [] for s in senders}

    def run(n: int) -> None:
        for i in range(per_sender):  # alternate replicas: each sender goes through both
            acked[senders[n]].append(send(pair[(n + i) % 2], senders[n], "crowd", f"{n}.{i}"))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(senders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    page = call(pair[1], senders[0], "GET", "/sessions/crowd/messages?after=0&limit=500").json()
    stored = page["messages"]
    assert len(stored) == len({m["id"] for m in stored}) == len(senders) * per_sender
    for n, sender in enumerate(senders):
        own = [m for m in stored if m["sender"] == sender]
        assert [m["text"] for m in own] == [f"{n}.{i}" for i in range(per_sender)]
        assert [m["id"] for m in own] == acked[sender]


def test_killing_one_replica_loses_no_acknowledged_message_and_its_clients_carry_on(
    start_relay, postgres_url
):
    pair = [start_relay(process=True, database_url=postgres_url) for _ in range(2)]
    senders = [f"k{i}" for i in range(8)]
    body = {"name": "kill", "participants": senders[1:]}
    assert call(pair[0], senders[0], "POST", "/sessions", json=body).status_code == 201
    acked: dict[str, list[int]] = {s: [] for s in senders}
    switched: set[str] = set()
    halfway = threading.Barrier(len(senders) + 1)

    def run(n: int) -> None:
        sender, relay = senders[n], pair[n % 2]
        for i in range(30):
            if i == 10:
                halfway.wait(60)  # until the kill
            text = f"{n}.{i}"
            try:
                acked[sender].append(send(relay, sender, "kill", text))
            # The replica is gone: carry on through the other. The kill may also cut an answer
            # off mid-body; that send was not acknowledged, and is sent again.
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                relay = pair[1]
                switched.add(sender)
                acked[sender].append(send(relay, sender, "kill", text))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(senders))]
    for thread in threads:
        thread.start()
    halfway.wait(60)
    pair[0].kill()
    for thread in threads:
        thread.join(120)
    assert switched == set(senders[0::2])  # every client of the killed replica moved
    page = call(pair[1], senders[1], "GET", "/sessions/kill/messages?after=0&limit=500").json()
    stored = {m["id"]: m for m in page["messages"]}
    for n, sender in enumerate(senders):
        assert len(acked[sender]) == 30
        for i, message_id in enumerate(acked[sender]):
            assert stored[message_id]["text"] == f"{n}.{i}"

"""Many clients at once: nothing lost, nothing duplicated, waits never starve other calls."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

CLIENTS = 16
SENDS_EACH = 100


def test_sixteen_clients_sending_a_hundred_messages_each_lose_nothing(relay, session_name):
    senders = [f"sender-{i}" for i in range(CLIENTS)]
    created = requests.post(
        relay.url + "/api/v1/sessions",
        headers=relay.headers("reader"),
        json={"name": session_name, "participants": senders},
        timeout=10,
    )
    assert created.status_code == 201

    def send_all(sender: str) -> list[tuple[int, str]]:
        receipts = []
        with requests.Session() as http:
            http.headers.update(relay.headers(sender))
            for i in range(SENDS_EACH):
                answer = http.post(
                    f"{relay.url}/api/v1/sessions/{session_name}/messages",
                    json={"text": f"{sender}:{i}"},
                    timeout=30,
                )
                assert answer.status_code == 201, answer.text
                receipts.append((answer.json()["id"], f"{sender}:{i}"))
        return receipts

    with ThreadPoolExecutor(CLIENTS) as pool:
        receipts = [r for batch in pool.map(send_all, senders) for r in batch]

    stored, after = [], 0
    while True:
        page = requests.get(
            f"{relay.url}/api/v1/sessions/{session_name}/messages",
            headers=relay.headers("reader"),
            params={"after": after, "limit": 500},
            timeout=10,
        ).json()
        stored += [(m["id"], m["text"]) for m in page["messages"]]
        after = page["next_after_id"]
        if not page["has_more"]:
            break

    assert len(receipts) == CLIENTS * SENDS_EACH
    assert sorted(receipts) == stored  # every acknowledged send, once, in id order
    assert len({i for i, _ in stored}) == len(stored)
    for sender in senders:  # each sender's messages keep its own order
        own = [int(text.split(":")[1]) for _, text in stored if text.startswith(sender + ":")]
        assert own == list(range(SENDS_EACH))


def test_parked_long_polls_do_not_starve_other_calls(relay, session_name):
    waiters = 200
    requests.post(
        relay.url + "/api/v1/sessions",
        headers=relay.headers("host"),
        json={"name": session_name, "participants": [f"w-{i}" for i in range(waiters)]},
        timeout=10,
    ).raise_for_status()
    woken = []
    lock = threading.Lock()

    def park(index: int) -> None:
        answer = requests.get(
            f"{relay.url}/api/v1/wait",
            headers=relay.headers(f"w-{index}"),
            params={"timeout": 30},
            timeout=60,
        )
        with lock:
            woken.append(answer.json()["messages"][0]["text"] if answer.ok else answer.text)

    threads = [threading.Thread(target=park, args=(i,), daemon=True) for i in range(waiters)]
    parked_before = relay.listeners()
    for thread in threads:
        thread.start()
    relay.wait_for_listeners(parked_before + waiters, timeout_s=30)  # every wait has parked

    started = time.monotonic()
    for _ in range(20):
        status = requests.get(
            relay.url + "/api/v1/status", headers=relay.headers("host"), timeout=10
        )
        assert status.status_code == 200
    assert time.monotonic() - started < 10  # generous: parked waits hold no worker thread

    requests.post(
        f"{relay.url}/api/v1/sessions/{session_name}/messages",
        headers=relay.headers("host"),
        json={"text": "everybody up"},
        timeout=10,
    ).raise_for_status()
    for thread in threads:
        thread.join(timeout=30)
    assert woken == ["everybody up"] * waiters

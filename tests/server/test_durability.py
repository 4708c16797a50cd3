"""An acknowledged message survives SIGKILL of the relay."""

import threading
import time

import requests

ACKS_BEFORE_KILL = 200
ACKS_DEADLINE_S = 60.0


def test_every_acknowledged_message_survives_a_kill_mid_load(start_relay):
    relay = start_relay(process=True)  # SIGKILL: the test is about the process
    requests.post(
        relay.url + "/api/v1/sessions",
        headers=relay.headers("alpha"),
        json={"name": "durable", "participants": ["beta"]},
        timeout=10,
    ).raise_for_status()
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send(sender: str) -> None:
        with requests.Session() as http:
            http.headers.update(relay.headers(sender))
            for i in range(10_000):
                if stop.is_set():
                    return
                try:
                    answer = http.post(
                        relay.url + "/api/v1/sessions/durable/messages",
                        json={"text": f"{sender} {i}"},
                        timeout=5,
                    )
                except requests.RequestException:
                    return
                if answer.status_code == 201:
                    with lock:
                        acknowledged.append(answer.json()["id"])

    threads = [threading.Thread(target=send, args=(s,)) for s in ("alpha", "beta") * 2]
    for thread in threads:
        thread.start()
    # Kill once a good number of sends went through, not after a fixed sleep; a relay that stops
    # acknowledging fails the test at the deadline instead of hanging it.
    deadline = time.monotonic() + ACKS_DEADLINE_S
    while True:
        with lock:
            if len(acknowledged) >= ACKS_BEFORE_KILL:
                break
        if time.monotonic() > deadline or not any(t.is_alive() for t in threads):
            stop.set()
            raise AssertionError(
                f"only {len(acknowledged)} of {ACKS_BEFORE_KILL} sends acknowledged before the "
                f"deadline:\n{relay.log()[-2000:]}"
            )
        threads[0].join(timeout=0.01)
    relay.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    relay.start()
    stored, after = set(), 0
    while True:
        page = requests.get(
            relay.url + "/api/v1/sessions/durable/messages",
            headers=relay.headers("alpha"),
            params={"after": after, "limit": 500},
            timeout=10,
        ).json()
        stored |= {m["id"] for m in page["messages"]}
        after = page["next_after_id"]
        if not page["has_more"]:
            break
    assert len(acknowledged) >= ACKS_BEFORE_KILL
    assert set(acknowledged) <= stored

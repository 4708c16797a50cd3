"""The relays tests run on behave like relays: in-process ones are kept apart, start or say why
not, and leave no thread or port behind (tests/conftest.py)."""

import socket
import threading

import pytest
import requests


def create_session(relay, name: str) -> int:
    return requests.post(
        relay.url + "/api/v1/sessions",
        headers=relay.headers("alpha"),
        json={"name": name},
        timeout=10,
    ).status_code


def session_names(relay) -> list[str]:
    answer = requests.get(
        relay.url + "/api/v1/sessions", headers=relay.headers("alpha"), timeout=10
    )
    return [s["name"] for s in answer.json()["sessions"]]


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_two_in_process_relays_keep_their_data_and_logs_apart(start_relay):
    first, second = start_relay(), start_relay()
    assert create_session(first, "only-on-first") == 201
    assert create_session(second, "only-on-second") == 201
    assert session_names(first) == ["only-on-first"]
    assert session_names(second) == ["only-on-second"]
    assert "only-on-second" not in first.log()
    assert 'op="POST /api/v1/sessions"' in second.log()


def test_stop_ends_the_thread_and_frees_the_port_and_start_serves_the_same_data(start_relay):
    threads_before = {thread.name for thread in threading.enumerate()}
    relay = start_relay()
    assert create_session(relay, "kept") == 201
    relay.stop()
    assert not relay.running
    assert port_is_closed(relay.port)
    assert {thread.name for thread in threading.enumerate()} <= threads_before
    relay.start()
    assert session_names(relay) == ["kept"]


def test_a_relay_that_cannot_start_raises_with_the_reason(start_relay):
    with pytest.raises(RuntimeError, match="relay exited at start") as caught:
        start_relay(rate_limit_burst="many")
    assert "RELAY_RATE_LIMIT_BURST" in str(caught.value)


def test_a_relay_whose_port_is_taken_raises_with_its_log(start_relay):
    relay = start_relay()
    relay.stop()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", relay.port))
        squatter.listen()
        with pytest.raises(RuntimeError, match="relay exited at start") as caught:
            relay.start()
    assert "address already in use" in str(caught.value).lower()
    assert not relay.running


def test_kill_needs_a_relay_process(start_relay):
    with pytest.raises(RuntimeError, match="process=True"):
        start_relay().kill()


@pytest.mark.slow
def test_a_relay_process_is_killed_and_restarts_on_its_data(start_relay):
    relay = start_relay(process=True)
    assert create_session(relay, "survives") == 201
    relay.kill()
    assert not relay.running
    relay.start()
    assert session_names(relay) == ["survives"]

"""``agent-relay send --reply-by/--ttl`` (and ``send-file``'s), ``message status`` and oversize
text, against a real relay."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta

import pytest
import requests

from relay_client import ClientConfig


@pytest.fixture
def world(relay, data_paths):
    """This machine (``me``) and a peer ``bob`` in a fresh session."""
    tag = uuid.uuid4().hex[:8]
    me, bob, session = f"me-{tag}", f"bob-{tag}", f"delivery-{tag}"
    ClientConfig(relay_url=relay.url, client_id=me, token=relay.token).save(data_paths.config)
    answer = requests.post(
        relay.url + "/api/v1/sessions",
        json={"name": session, "participants": [bob]},
        headers=relay.headers(me),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return {"me": me, "bob": bob, "session": session, "relay": relay}


def bob_reads(world, mark_read: bool = False) -> list[dict]:
    relay, session = world["relay"], world["session"]
    answer = requests.get(
        f"{relay.url}/api/v1/sessions/{session}/messages?after=0",
        headers=relay.headers(world["bob"]),
        timeout=10,
    )
    messages = answer.json()["messages"]
    if mark_read and messages:
        requests.post(
            f"{relay.url}/api/v1/sessions/{session}/read",
            json={"up_to_id": messages[-1]["id"]},
            headers=relay.headers(world["bob"]),
            timeout=10,
        ).raise_for_status()
    return messages


def sent_id(result) -> int:
    assert result.exit_code == 0, result.output
    return int(result.stdout.split("#")[1].split()[0])


def test_message_status_follows_a_message_from_stored_to_read(world, run) -> None:
    message_id = sent_id(run("send", world["session"], "ping", "--reply-by", "10m", "--ttl", "1h"))
    shown = run("message", "status", str(message_id), "--json")
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert [(r["client_id"], r["state"]) for r in status["recipients"]] == [
        (world["bob"], "stored")
    ]
    assert status["reply_by"] is not None
    assert status["expires_at"] is not None
    bob_reads(world)
    assert world["bob"] in run("message", "status", str(message_id)).stdout
    assert "delivered" in run("message", "status", str(message_id)).stdout
    bob_reads(world, mark_read=True)
    text = run("message", "status", str(message_id)).stdout
    assert "read" in text.split(world["bob"])[1]
    assert "Reply by" in text


def test_a_bad_duration_is_a_usage_error_and_sends_nothing(world, run) -> None:
    result = run("send", world["session"], "ping", "--reply-by", "soon")
    assert result.exit_code == 2
    assert "not a duration" in result.stderr
    assert bob_reads(world) == []


def test_a_reply_by_after_the_expiry_is_a_usage_error_and_sends_nothing(world, run) -> None:
    result = run("send", world["session"], "ping", "--reply-by", "2h", "--ttl", "1h")
    assert result.exit_code == 2
    assert "--reply-by must not be longer than --ttl" in result.stderr
    assert bob_reads(world) == []


def deadlines_of(run, message_id: int) -> tuple[timedelta, timedelta]:
    """A message's reply-by and expiry, as times after it was sent."""
    shown = run("message", "status", str(message_id), "--json")
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    created = datetime.fromisoformat(status["created_at"])
    return (
        datetime.fromisoformat(status["reply_by"]) - created,
        datetime.fromisoformat(status["expires_at"]) - created,
    )


def test_send_file_gives_its_message_a_reply_by_and_an_expiry(world, run, tmp_path) -> None:
    path = tmp_path / "build.log"
    path.write_text("build 4127: green\n")
    sent = run("send-file", world["session"], str(path), "--reply-by", "10m", "--ttl", "1h30m")
    reply_by, expires = deadlines_of(run, sent_id(sent))
    assert abs(reply_by - timedelta(minutes=10)) < timedelta(seconds=1)
    assert abs(expires - timedelta(minutes=90)) < timedelta(seconds=1)
    [message] = bob_reads(world)
    assert [a["filename"] for a in message["attachments"]] == ["build.log"]
    assert relay_holds(world, path)


@pytest.mark.parametrize("option", ["--reply-by", "--ttl"])
def test_send_file_with_a_bad_duration_uploads_and_sends_nothing(
    world, run, tmp_path, option
) -> None:
    path = tmp_path / "build.log"
    path.write_bytes(uuid.uuid4().bytes)
    result = run("send-file", world["session"], str(path), option, "31d")
    assert result.exit_code == 2
    assert "at most 30 days" in result.stderr
    assert bob_reads(world) == []
    assert not relay_holds(world, path)


def relay_holds(world, path) -> bool:
    """Whether the relay has the file's bytes (uploaded, whether or not a message went)."""
    relay = world["relay"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    held = requests.head(
        f"{relay.url}/blobs/{digest}", headers=relay.headers(world["me"]), timeout=10
    )
    assert held.status_code in {200, 404}, held.text
    return held.status_code == 200


def test_send_file_with_a_reply_by_after_the_expiry_uploads_and_sends_nothing(
    world, run, tmp_path
) -> None:
    path = tmp_path / "build.log"
    path.write_bytes(uuid.uuid4().bytes)
    result = run("send-file", world["session"], str(path), "--reply-by", "2h", "--ttl", "1h")
    assert result.exit_code == 2
    assert "--reply-by must not be longer than --ttl" in result.stderr
    assert bob_reads(world) == []
    assert not relay_holds(world, path)


def test_someone_elses_message_status_is_not_found(world, run) -> None:
    relay = world["relay"]
    other = requests.post(
        f"{relay.url}/api/v1/sessions",
        json={"name": f"{world['session']}-x", "participants": []},
        headers=relay.headers(world["bob"]),
        timeout=10,
    )
    assert other.status_code == 201, other.text
    sent = requests.post(
        f"{relay.url}/api/v1/sessions/{world['session']}-x/messages",
        json={"text": "private"},
        headers=relay.headers(world["bob"]),
        timeout=10,
    ).json()
    result = run("message", "status", str(sent["id"]))
    assert result.exit_code != 0
    assert "not_found" in result.stderr


def test_a_long_text_from_stdin_arrives_whole_as_an_attachment(world, run) -> None:
    text = "all work and no play ✓\n" * 5000  # ~120 KB
    sent_id(run("send", world["session"], "-", input=text))
    [message] = bob_reads(world)
    [whole] = message["attachments"]
    relay = world["relay"]
    blob = requests.get(
        f"{relay.url}/blobs/{whole['sha256']}", headers=relay.headers(world["bob"]), timeout=10
    )
    assert blob.content == text.removesuffix("\n").encode("utf-8")

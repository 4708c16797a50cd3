"""Who may fetch a file, and which files garbage collection keeps, against real relays.

A client may download (or attach) a blob only if it uploaded it or can read a message that has
it attached, narrowed messages included; ``gc`` keeps every blob an attachment references and
removes one nothing references once its grace is over. The blobs are ordered by digest so that a
query comparing digests with ``<=`` or ``>`` instead of ``==`` lets the wrong one through.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import requests

API = "/api/v1"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def by_digest(count: int) -> list[bytes]:
    """``count`` small random files, in the order of their digests."""
    return sorted((os.urandom(64) for _ in range(count)), key=sha)


def call(relay, client_id: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, relay.url + path, headers=relay.headers(client_id), timeout=10, **kwargs
    )


def upload(relay, client_id: str, data: bytes) -> None:
    answer = call(relay, client_id, "PUT", f"/blobs/{sha(data)}", data=data)
    assert answer.status_code in (200, 201), answer.text


def create(relay, name: str, creator: str, *others: str) -> None:
    body = {"name": name, "participants": list(others)}
    answer = call(relay, creator, "POST", f"{API}/sessions", json=body)
    assert answer.status_code == 201, answer.text


def send(relay, sender: str, session: str, files: list[bytes], to: tuple[str, ...] = ()):
    attachments = [{"sha256": sha(data), "filename": f"{i}.bin"} for i, data in enumerate(files)]
    body = {"text": "see attached", "to": list(to), "attachments": attachments}
    return call(relay, sender, "POST", f"{API}/sessions/{session}/messages", json=body)


def downloads(relay, client_id: str, data: bytes) -> bool:
    """True when ``client_id`` gets the file (HEAD and GET agree); False when it is not found."""
    head = call(relay, client_id, "HEAD", f"/blobs/{sha(data)}")
    got = call(relay, client_id, "GET", f"/blobs/{sha(data)}")
    assert head.status_code == got.status_code, (head.status_code, got.status_code)
    assert got.status_code in (200, 404), got.text
    if got.status_code == 200:
        assert got.content == data
        return True
    assert got.json()["error"]["code"] == "not_found"
    return False


def test_a_client_may_download_a_blob_only_if_it_uploaded_it_or_can_read_a_message_with_it(relay):
    tag = uuid.uuid4().hex[:10]
    alpha, beta, carol, dave = (f"{role}-{tag}" for role in ("alpha", "beta", "carol", "dave"))
    room, later = f"room-{tag}", f"later-{tag}"
    create(relay, room, alpha, beta, carol)
    create(relay, later, alpha, dave)  # dave's only session, with a higher id than room's
    low, to_carol, high, to_all, to_beta = by_digest(5)
    upload(relay, beta, low)  # beta's own uploads sort on either side of to_carol
    upload(relay, beta, high)
    for data in (to_carol, to_all, to_beta):
        upload(relay, alpha, data)
    assert send(relay, alpha, room, [to_carol], to=(carol,)).status_code == 201
    assert send(relay, alpha, room, [to_all]).status_code == 201
    assert send(relay, alpha, room, [to_beta], to=(beta,)).status_code == 201

    may = {
        alpha: {low: False, to_carol: True, high: False, to_all: True, to_beta: True},
        beta: {low: True, to_carol: False, high: True, to_all: True, to_beta: True},
        carol: {low: False, to_carol: True, high: False, to_all: True, to_beta: False},
        dave: {low: False, to_carol: False, high: False, to_all: False, to_beta: False},
    }
    for client, files in may.items():
        for data, allowed in files.items():
            assert downloads(relay, client, data) is allowed, (client, files, data)

    # What one may not download, one may not pass on either: attaching it is refused.
    refused = send(relay, beta, room, [to_carol])
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid")
    assert send(relay, carol, room, [to_carol, to_all]).status_code == 201


def test_gc_keeps_every_blob_an_attachment_references_and_removes_the_others(start_relay):
    relay = start_relay()
    low, middle, high, highest = by_digest(4)
    for data in (low, middle, high, highest):
        upload(relay, "alpha", data)
    create(relay, "gc", "alpha", "beta")
    # Referenced: the lowest digest and one in the middle; not: one between, and the highest.
    assert send(relay, "alpha", "gc", [low]).status_code == 201
    assert send(relay, "alpha", "gc", [high], to=("beta",)).status_code == 201

    report = relay.admin("gc", "--grace", "0s")
    removed = [line.split()[1] for line in report.splitlines() if line.startswith("removed")]
    assert sorted(removed) == sorted([sha(middle), sha(highest)])
    assert [downloads(relay, "alpha", data) for data in (low, middle, high, highest)] == [
        True,
        False,
        True,
        False,
    ]

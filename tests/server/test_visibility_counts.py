"""What a client is shown of a session: counts, read positions, pages, messages by id, members.

Each test plays a small world through the HTTP API of an in-process relay and, after every step,
checks every view a client has of it against the rule the relay promises: a message with
recipients (narrowed) is readable only by its sender and those recipients; ``last_message_id`` is
the newest message the caller may read, its own included; ``unread`` counts the messages from
others past the caller's read position that it may read; a read position only moves forward, and
only the caller's, in that session. The worlds are built so that a visibility query that is
wrong by one operator (a ``>=`` for a ``==``, an ``OR`` for an ``AND``) shows in some view.

Client and session names carry a tag of the test, so the module's shared relay holds nobody
else's sessions for them; the role part of a name sorts as written (alpha < beta < carol <
dave), which the worlds use: a name compared with ``<`` instead of ``==`` shows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import requests

API = "/api/v1"
EVERYTHING = 500  # the largest page: every message of these small worlds


def api(relay, client_id: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, relay.url + API + path, headers=relay.headers(client_id), timeout=10, **kwargs
    )


def ok(answer: requests.Response, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    return answer.json()


def code_of(answer: requests.Response) -> str:
    return answer.json()["error"]["code"]


@dataclass(frozen=True)
class Sent:
    id: int
    session: str
    sender: str
    to: tuple[str, ...]


@dataclass
class World:
    """Sessions and messages made through the API, and what the rule says each client sees."""

    relay: object
    tag: str
    members: dict[str, list[str]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    position: dict[tuple[str, str], int] = field(default_factory=dict)

    def client(self, role: str) -> str:
        return f"{role}-{self.tag}"

    def create(self, name: str, creator: str, *others: str) -> str:
        session = f"{name}-{self.tag}"
        body = {"name": session, "participants": list(others)}
        ok(api(self.relay, creator, "POST", "/sessions", json=body), 201)
        self.members[session] = [creator, *others]
        return session

    def send(self, session: str, sender: str, to: Sequence[str] = (), **fields: object) -> int:
        body = {"text": f"from {sender}", "to": list(to), **fields}
        sent = ok(api(self.relay, sender, "POST", f"/sessions/{session}/messages", json=body), 201)
        self.sent.append(Sent(sent["id"], session, sender, tuple(to)))
        return int(sent["id"])

    def mark_read(self, session: str, client: str, up_to_id: int) -> None:
        key = (client, session)
        self.position[key] = max(self.position.get(key, 0), up_to_id)
        answer = ok(
            api(
                self.relay, client, "POST", f"/sessions/{session}/read", json={"up_to_id": up_to_id}
            )
        )
        _, unread = self.expected_counts(client, session)
        assert answer == {"session": session, "last_read_id": self.position[key], "unread": unread}

    # --- the rule ---------------------------------------------------------------------------

    def readable(self, client: str, session: str) -> list[int]:
        return [
            m.id
            for m in self.sent
            if m.session == session and (not m.to or m.sender == client or client in m.to)
        ]

    def unread(self, client: str, session: str, after: int | None = None) -> list[int]:
        start = self.position.get((client, session), 0) if after is None else after
        return [
            m.id
            for m in self.sent
            if m.id in self.readable(client, session) and m.sender != client and m.id > start
        ]

    def expected_counts(self, client: str, session: str) -> tuple[int | None, int]:
        readable = self.readable(client, session)
        return (max(readable) if readable else None), len(self.unread(client, session))

    def sessions_of(self, client: str) -> list[str]:
        return [s for s, members in self.members.items() if client in members]

    # --- what the relay shows -----------------------------------------------------------------

    def check(self, *, counts_only: bool = False) -> None:
        """Every client's every view of the world agrees with the rule (with ``counts_only``,
        its sessions' counts in ``list_sessions`` and ``get_session``)."""
        clients = sorted({c for members in self.members.values() for c in members})
        for client in clients:
            mine = self.sessions_of(client)
            listed = ok(api(self.relay, client, "GET", "/sessions"))["sessions"]
            summaries = {s["name"]: s for s in listed}
            assert sorted(summaries) == sorted(mine), client
            for session in mine:
                last, unread = self.expected_counts(client, session)
                shown = (summaries[session]["last_message_id"], summaries[session]["unread"])
                assert shown == (last, unread), f"list_sessions: {client} in {session}"
                detail = ok(api(self.relay, client, "GET", f"/sessions/{session}"))
                shown = (detail["last_message_id"], detail["unread"])
                assert shown == (last, unread), f"get_session: {client} in {session}"
                if counts_only:
                    continue
                page = ok(
                    api(
                        self.relay,
                        client,
                        "GET",
                        f"/sessions/{session}/messages",
                        params={"after": 0, "limit": EVERYTHING},
                    )
                )
                assert [m["id"] for m in page["messages"]] == self.readable(client, session)
            if counts_only:
                continue
            status = ok(api(self.relay, client, "GET", "/status"))
            assert status["unread"] == sum(len(self.unread(client, s)) for s in mine), client
            self.check_waiting(client, mine)

    def check_waiting(self, client: str, mine: list[str]) -> None:
        """``/wait`` (nothing to wait for: timeout 0) shows the unread messages from others in all
        the client's sessions, from its read positions, or after an id."""
        expected = sorted(i for s in mine for i in self.unread(client, s))
        page = ok(
            api(self.relay, client, "GET", "/wait", params={"timeout": 0, "limit": EVERYTHING})
        )
        assert [m["id"] for m in page["messages"]] == expected, f"wait: {client}"
        page = ok(
            api(
                self.relay,
                client,
                "GET",
                "/wait",
                params={"after": 0, "timeout": 0, "limit": EVERYTHING},
            )
        )
        everything = sorted(i for s in mine for i in self.unread(client, s, after=0))
        assert [m["id"] for m in page["messages"]] == everything, f"wait after 0: {client}"


@pytest.fixture
def world(relay) -> World:
    return World(relay, uuid.uuid4().hex[:10])


def test_counts_never_include_a_narrowed_message_to_others_and_unread_never_ones_own(world):
    alpha, beta, carol, dave = (world.client(r) for r in ("alpha", "beta", "carol", "dave"))
    room = world.create("room", alpha, beta, carol, dave)
    world.check()
    # Beta sorts between the senders (alpha, dave) and between the recipients (alpha, carol)
    # of the messages it must not see; each step may change every client's counts.
    steps = [
        (alpha, [carol]),
        (dave, [carol]),
        (carol, [alpha]),
        (beta, [beta, dave]),  # its own, addressed to itself too: its newest, not unread
        (beta, []),  # its own to everyone: its newest, never unread
        (alpha, [beta]),  # to beta after the ones it may not read: opens this one only
        (dave, [alpha]),
        (carol, []),
    ]
    for sender, to in steps:
        world.send(room, sender, to)
        world.check(counts_only=True)
    world.check()


def test_counts_of_a_session_leave_out_every_other_session(world):
    alpha, beta, carol = (world.client(r) for r in ("alpha", "beta", "carol"))
    first = world.create("first", alpha, beta, carol)
    second = world.create("second", alpha, beta)  # created later: a higher session id
    elsewhere = world.create("elsewhere", alpha, carol)  # beta is not in it
    world.send(elsewhere, alpha, [carol])
    world.send(elsewhere, carol)
    world.send(first, alpha, [carol])
    world.send(second, alpha)
    world.send(first, carol)
    world.send(second, alpha, [alpha])
    world.check()
    world.mark_read(first, beta, world.sent[-1].id)  # past every message of every session
    world.check()
    world.send(elsewhere, alpha, [carol])
    world.send(second, alpha)
    world.check()


def test_unread_counts_the_messages_past_the_read_position_and_no_others(world):
    alpha, beta, carol = (world.client(r) for r in ("alpha", "beta", "carol"))
    room = world.create("room", alpha, beta, carol)
    ids = [world.send(room, sender) for sender in (alpha, beta, carol, alpha, beta, carol)]
    world.check()
    world.mark_read(room, beta, ids[3])  # its own, others' and its own again on either side
    world.mark_read(room, carol, ids[1])
    world.check()
    world.mark_read(room, alpha, ids[-1])
    world.check()


def test_mark_read_never_moves_a_read_position_backward(world):
    alpha, beta = world.client("alpha"), world.client("beta")
    room = world.create("room", alpha, beta)
    ids = [world.send(room, alpha) for _ in range(3)]
    world.mark_read(room, beta, ids[2])
    world.mark_read(room, beta, ids[0])  # asks to go back: stays at ids[2]
    world.check()
    world.mark_read(room, beta, ids[2])  # the same place: nothing changes
    world.check()


def test_mark_read_moves_only_the_callers_position_and_only_in_that_session(world):
    alpha, beta, carol = (world.client(r) for r in ("alpha", "beta", "carol"))
    first = world.create("first", alpha, beta, carol)
    second = world.create("second", alpha, beta, carol)  # a higher session id
    world.send(second, alpha)
    world.send(second, alpha, [beta, carol])
    world.send(first, carol)
    world.send(first, alpha)
    world.mark_read(first, carol, world.sent[-1].id)  # carol ahead of beta in the same session
    world.check()
    world.mark_read(first, beta, world.sent[-2].id)  # behind carol, ahead of everything else
    world.check()
    world.send(first, beta)
    world.mark_read(first, alpha, world.sent[-1].id)
    world.check()


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
def test_a_page_of_exactly_limit_messages_has_no_more_and_one_more_has_more(world, limit):
    alpha, beta = world.client("alpha"), world.client("beta")
    room = world.create("room", alpha, beta)
    ids = [0] + [world.send(room, alpha) for _ in range(limit + 1)]
    path = f"/sessions/{room}/messages"

    exact = ok(api(world.relay, beta, "GET", path, params={"after": ids[1], "limit": limit}))
    assert [m["id"] for m in exact["messages"]] == ids[2:]
    assert (exact["has_more"], exact["next_after_id"]) == (False, ids[-1])

    more = ok(api(world.relay, beta, "GET", path, params={"after": ids[0], "limit": limit}))
    assert [m["id"] for m in more["messages"]] == ids[1:-1]
    assert (more["has_more"], more["next_after_id"]) == (True, ids[-2])

    waited = ok(api(world.relay, beta, "GET", "/wait", params={"timeout": 0, "limit": limit}))
    assert [m["id"] for m in waited["messages"]] == ids[1:-1]
    assert waited["has_more"] is True


def test_a_message_is_fetched_by_its_own_id_or_not_at_all(world):
    alpha, beta, carol = (world.client(r) for r in ("alpha", "beta", "carol"))
    room = world.create("room", alpha, beta, carol)
    hidden = world.send(room, alpha, [carol])
    shown = world.send(room, alpha)

    refused = api(world.relay, beta, "GET", f"/messages/{hidden}")
    assert (refused.status_code, code_of(refused)) == (404, "not_found")
    assert ok(api(world.relay, beta, "GET", f"/messages/{shown}"))["id"] == shown
    assert ok(api(world.relay, carol, "GET", f"/messages/{hidden}"))["id"] == hidden


def test_a_reply_must_answer_a_message_of_the_same_session(world):
    alpha, beta = world.client("alpha"), world.client("beta")
    first = world.create("first", alpha, beta)
    second = world.create("second", alpha, beta)
    in_first, in_second = world.send(first, alpha), world.send(second, alpha)

    for session, other in ((first, in_second), (second, in_first)):
        path = f"/sessions/{session}/messages"
        answer = api(world.relay, beta, "POST", path, json={"text": "re", "reply_to": other})
        assert (answer.status_code, code_of(answer)) == (404, "not_found")
    world.send(first, beta, reply_to=in_first)
    world.send(second, beta, reply_to=in_second)
    world.check()


def test_a_reply_in_the_same_session_is_taken_when_ids_are_large(world):
    # Ids past 256 are distinct int objects in CPython: comparing them with ``is`` would refuse
    # a reply in its own session once the relay holds that many sessions.
    alpha = world.client("alpha")
    http = requests.Session()
    http.headers.update(world.relay.headers(alpha))
    for number in range(257):
        answer = http.post(
            f"{world.relay.url}{API}/sessions", json={"name": f"s{number}-{world.tag}"}
        )
        assert answer.status_code == 201, answer.text
    room = world.create("room", alpha)
    question = world.send(room, alpha)
    answer = world.send(room, alpha, reply_to=question)
    assert ok(api(world.relay, alpha, "GET", f"/messages/{answer}"))["reply_to"] == question


def test_membership_of_one_session_gives_nothing_in_another(world):
    alpha, beta, carol = (world.client(r) for r in ("alpha", "beta", "carol"))
    first = world.create("first", alpha, beta)
    world.create("second", alpha, carol)  # carol's only session, created later
    message = world.send(first, alpha)

    for method, path, body in [
        ("GET", f"/sessions/{first}", None),
        ("GET", f"/sessions/{first}/messages", None),
        ("POST", f"/sessions/{first}/messages", {"text": "let me in"}),
        ("POST", f"/sessions/{first}/read", {"up_to_id": message}),
        ("POST", f"/sessions/{first}/invite", {"clients": [carol]}),
    ]:
        answer = api(world.relay, carol, method, path, json=body)
        assert (answer.status_code, code_of(answer)) == (403, "forbidden"), (method, path)
    by_id = api(world.relay, carol, "GET", f"/messages/{message}")
    assert (by_id.status_code, code_of(by_id)) == (404, "not_found")

    to_outsider = api(
        world.relay,
        alpha,
        "POST",
        f"/sessions/{first}/messages",
        json={"text": "psst", "to": [carol]},
    )
    assert (to_outsider.status_code, code_of(to_outsider)) == (400, "invalid")
    world.check()

"""The HTTP API against a real relay: every route, its answers and its errors."""

import requests

from relay_core import MessagePage, SessionDetail, Status
from relay_core.wire import MAX_SENT_TEXT_BYTES


def api(relay, client_id, method, path, **kwargs):
    return requests.request(
        method, relay.url + path, headers=relay.headers(client_id), timeout=10, **kwargs
    )


def create(relay, name, creator="alpha", participants=("beta",)):
    answer = api(
        relay,
        creator,
        "POST",
        "/api/v1/sessions",
        json={"name": name, "participants": list(participants)},
    )
    assert answer.status_code == 201, answer.text
    return SessionDetail.model_validate(answer.json())


def test_healthz_needs_no_token_and_reports_version(relay):
    answer = requests.get(relay.url + "/healthz", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["version"]
    assert answer.json()["uptime_s"] >= 0


def test_create_session_makes_the_creator_a_participant(relay, session_name):
    detail = create(relay, session_name)
    assert detail.created_by == "alpha"
    assert [p.client_id for p in detail.participants] == ["alpha", "beta"]


def test_a_duplicate_session_is_a_conflict_that_names_the_creator(relay, session_name):
    create(relay, session_name)
    answer = api(relay, "beta", "POST", "/api/v1/sessions", json={"name": session_name})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "conflict"
    assert "alpha" in answer.json()["error"]["message"]


def test_bad_names_are_invalid_and_change_nothing(relay):
    answer = api(relay, "alpha", "POST", "/api/v1/sessions", json={"name": "../etc"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"
    sessions = api(relay, "alpha", "GET", "/api/v1/sessions").json()["sessions"]
    assert all(s["name"] != "../etc" for s in sessions)


def test_unknown_fields_and_bad_json_are_invalid(relay, session_name):
    create(relay, session_name)
    path = f"/api/v1/sessions/{session_name}/messages"
    assert api(relay, "alpha", "POST", path, json={"text": "x", "sender": "eve"}).status_code == 400
    bad = api(relay, "alpha", "POST", path, data=b"{not json")
    assert bad.status_code == 400
    assert "JSON" in bad.json()["error"]["message"]


def test_send_then_read_returns_the_message_with_its_sender(relay, session_name):
    create(relay, session_name)
    sent = api(
        relay,
        "alpha",
        "POST",
        f"/api/v1/sessions/{session_name}/messages",
        json={"text": "hello, beta"},
    )
    assert sent.status_code == 201
    page = MessagePage.model_validate(
        api(relay, "beta", "GET", f"/api/v1/sessions/{session_name}/messages").json()
    )
    assert [(m.id, m.sender, m.text) for m in page.messages] == [
        (sent.json()["id"], "alpha", "hello, beta")
    ]
    assert page.next_after_id == sent.json()["id"]
    assert not page.has_more


def test_reading_pages_with_after_and_limit(relay, session_name):
    create(relay, session_name)
    ids = [
        api(
            relay,
            "alpha",
            "POST",
            f"/api/v1/sessions/{session_name}/messages",
            json={"text": str(i)},
        ).json()["id"]
        for i in range(5)
    ]
    path = f"/api/v1/sessions/{session_name}/messages"
    first = api(relay, "beta", "GET", path, params={"limit": 2}).json()
    assert [m["id"] for m in first["messages"]] == ids[:2]
    assert first["has_more"] is True
    rest = api(
        relay, "beta", "GET", path, params={"after": first["next_after_id"], "limit": 10}
    ).json()
    assert [m["id"] for m in rest["messages"]] == ids[2:]
    assert rest["has_more"] is False


def test_get_never_moves_the_read_position_but_post_read_does(relay, session_name):
    create(relay, session_name)
    path = f"/api/v1/sessions/{session_name}"
    sent = api(relay, "alpha", "POST", path + "/messages", json={"text": "x"}).json()
    api(relay, "beta", "GET", path + "/messages")
    assert api(relay, "beta", "GET", path).json()["unread"] == 1
    position = api(relay, "beta", "POST", path + "/read", json={"up_to_id": sent["id"]}).json()
    assert position == {"session": session_name, "last_read_id": sent["id"], "unread": 0}
    assert api(relay, "beta", "GET", path + "/messages").json()["messages"] == []


def test_narrowed_messages_reach_only_their_recipients(relay, session_name):
    create(relay, session_name, participants=("beta", "gamma"))
    path = f"/api/v1/sessions/{session_name}/messages"
    api(relay, "alpha", "POST", path, json={"text": "for beta only", "to": ["beta"]})
    assert [m["text"] for m in api(relay, "beta", "GET", path).json()["messages"]] == [
        "for beta only"
    ]
    assert api(relay, "gamma", "GET", path).json()["messages"] == []
    assert [m["to"] for m in api(relay, "alpha", "GET", path).json()["messages"]] == [["beta"]]


def test_recipients_must_be_participants(relay, session_name):
    create(relay, session_name)
    answer = api(
        relay,
        "alpha",
        "POST",
        f"/api/v1/sessions/{session_name}/messages",
        json={"text": "x", "to": ["zed"]},
    )
    assert answer.status_code == 400
    assert "not a participant" in answer.json()["error"]["message"]


def test_non_participants_are_forbidden(relay, session_name):
    create(relay, session_name)
    for method, suffix, body in [
        ("GET", "", None),
        ("GET", "/messages", None),
        ("POST", "/messages", {"text": "x"}),
        ("POST", "/read", {"up_to_id": 1}),
        ("POST", "/invite", {"clients": ["eve"]}),
    ]:
        answer = api(relay, "eve", method, f"/api/v1/sessions/{session_name}{suffix}", json=body)
        assert answer.status_code == 403, (method, suffix, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"


def test_unknown_session_is_not_found(relay):
    answer = api(relay, "alpha", "GET", "/api/v1/sessions/no-such-session")
    assert answer.status_code == 404
    assert answer.json()["error"] == {
        "code": "not_found",
        "message": "session 'no-such-session' does not exist",
        "details": {"session": "no-such-session"},
    }


def test_reply_to_must_be_a_visible_message_of_the_same_session(relay, session_name):
    create(relay, session_name)
    path = f"/api/v1/sessions/{session_name}/messages"
    first = api(relay, "alpha", "POST", path, json={"text": "q"}).json()["id"]
    reply = api(relay, "beta", "POST", path, json={"text": "a", "reply_to": first})
    assert reply.status_code == 201
    missing = api(relay, "beta", "POST", path, json={"text": "a", "reply_to": 10**9})
    assert missing.status_code == 404


def test_invite_leave_and_close(relay, session_name):
    create(relay, session_name)
    path = f"/api/v1/sessions/{session_name}"
    invited = api(relay, "beta", "POST", path + "/invite", json={"clients": ["gamma"]})
    assert [p["client_id"] for p in invited.json()["participants"]] == ["alpha", "beta", "gamma"]
    assert api(relay, "gamma", "POST", path + "/leave").status_code == 204
    assert api(relay, "gamma", "GET", path).status_code == 403
    assert api(relay, "beta", "DELETE", path).status_code == 403  # only the creator closes
    closed = api(relay, "alpha", "DELETE", path)
    assert closed.status_code == 200
    assert closed.json()["closed_at"]
    late = api(relay, "alpha", "POST", path + "/messages", json={"text": "late"})
    assert late.status_code == 409
    assert api(relay, "beta", "GET", path + "/messages").status_code == 200


def test_list_sessions_shows_unread_counts_and_hides_closed_ones(relay, session_name):
    create(relay, session_name)
    api(relay, "alpha", "POST", f"/api/v1/sessions/{session_name}/messages", json={"text": "x"})
    mine = {s["name"]: s for s in api(relay, "beta", "GET", "/api/v1/sessions").json()["sessions"]}
    assert mine[session_name]["unread"] == 1
    assert mine[session_name]["participants"] == 2
    api(relay, "alpha", "DELETE", f"/api/v1/sessions/{session_name}")
    names = [s["name"] for s in api(relay, "beta", "GET", "/api/v1/sessions").json()["sessions"]]
    assert session_name not in names
    everything = api(relay, "beta", "GET", "/api/v1/sessions", params={"include_closed": "true"})
    assert session_name in [s["name"] for s in everything.json()["sessions"]]


def test_get_message_by_id_respects_visibility(relay, session_name):
    create(relay, session_name, participants=("beta", "gamma"))
    sent = api(
        relay,
        "alpha",
        "POST",
        f"/api/v1/sessions/{session_name}/messages",
        json={"text": "psst", "to": ["beta"]},
    ).json()
    assert api(relay, "beta", "GET", f"/api/v1/messages/{sent['id']}").json()["text"] == "psst"
    assert api(relay, "gamma", "GET", f"/api/v1/messages/{sent['id']}").status_code == 404
    assert api(relay, "eve", "GET", f"/api/v1/messages/{sent['id']}").status_code == 404


def test_status_whoami_and_peers(relay, session_name):
    create(relay, session_name)
    status = Status.model_validate(api(relay, "beta", "GET", "/api/v1/status").json())
    assert status.caller == "beta"
    assert status.auth_mode == "shared"
    assert status.counts.sessions >= 1
    assert api(relay, "beta", "GET", "/api/v1/whoami").json()["client_id"] == "beta"
    peers = {p["client_id"]: p for p in api(relay, "beta", "GET", "/api/v1/peers").json()["peers"]}
    assert session_name in peers["alpha"]["shared_sessions"]
    assert "beta" not in peers


def test_bad_query_parameters_are_invalid(relay, session_name):
    create(relay, session_name)
    path = f"/api/v1/sessions/{session_name}/messages"
    for params in [
        {"limit": 0},
        {"limit": 501},
        {"limit": "x"},
        {"after": -1},
        {"wait": 301},
        {"wait": "nan"},
    ]:
        answer = api(relay, "beta", "GET", path, params=params)
        assert answer.status_code == 400, params
        assert answer.json()["error"]["code"] == "invalid"


def test_unknown_routes_answer_json_not_found(relay):
    answer = api(relay, "alpha", "GET", "/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_oversized_json_bodies_are_refused_before_parsing(relay, session_name):
    create(relay, session_name)
    answer = api(
        relay,
        "alpha",
        "POST",
        f"/api/v1/sessions/{session_name}/read",
        data=b"x" * (2 * 1024 * 1024),
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


def test_text_over_the_limit_is_too_large_or_invalid_and_stores_nothing(relay, session_name):
    create(relay, session_name)
    path = f"/api/v1/sessions/{session_name}/messages"
    # Over 64 KiB a text becomes an attachment; past the inline upload limit it is refused.
    answer = api(relay, "alpha", "POST", path, json={"text": "x" * (MAX_SENT_TEXT_BYTES + 1)})
    assert answer.status_code in (400, 413)
    assert api(relay, "beta", "GET", path).json()["messages"] == []


def test_mcp_with_a_trailing_slash_is_not_redirected(relay):
    answers = [
        requests.post(
            relay.url + path,
            headers=relay.headers("alpha"),
            json={},
            timeout=5,
            allow_redirects=False,
        )
        for path in ("/mcp/", "/mcp")
    ]
    # Served like /mcp: the MCP SDK refuses the empty JSON-RPC message itself, no redirect.
    assert [answer.status_code for answer in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()


def test_a_foreign_host_header_is_refused(relay):
    answer = requests.get(
        relay.url + "/api/v1/status",
        headers={**relay.headers("alpha"), "Host": "evil.example"},
        timeout=5,
    )
    assert answer.status_code == 421

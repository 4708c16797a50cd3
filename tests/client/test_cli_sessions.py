import json

from responses import matchers

RELAY = "http://127.0.0.1:7878"
SESSIONS = f"{RELAY}/api/v1/sessions"


def test_session_create_resolves_peer_names(configured, relay_http, payloads, run):
    run("peers", "add", "bob", "bob-ws")
    relay_http.post(
        SESSIONS,
        status=201,
        json=payloads.session("build-42", "bob-ws", "carol-box", description="CI"),
        match=[
            matchers.json_params_matcher(
                {"name": "build-42", "participants": ["bob-ws", "carol-box"], "description": "CI"}
            )
        ],
    )
    result = run(
        "session", "create", "build-42", "--with", "bob", "--with", "carol-box",
        "--description", "CI",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Created session build-42.\n")
    assert "bob " in result.stdout
    assert "you " in result.stdout


def test_creating_a_session_that_exists_is_a_conflict(configured, relay_http, payloads, run):
    relay_http.post(
        SESSIONS, status=409, json=payloads.error("conflict", "session 'build-42' exists")
    )
    result = run("session", "create", "build-42")
    assert result.exit_code == 6
    assert result.stderr == "Error: conflict: session 'build-42' exists\n"


def test_session_list_shows_unread_counts(configured, relay_http, payloads, run):
    relay_http.get(
        SESSIONS,
        json={"sessions": [payloads.summary("build-42", unread=3, last_message_id=9)]},
        match=[matchers.query_param_matcher({"include_closed": "false"})],
    )
    lines = run("session", "list").stdout.splitlines()
    assert lines[0].split()[:3] == ["SESSION", "UNREAD", "LAST"]
    assert lines[1].split()[:4] == ["build-42", "3", "#9", "2"]


def test_session_list_all_includes_closed_ones_as_json(configured, relay_http, payloads, run):
    relay_http.get(
        SESSIONS,
        json={"sessions": [payloads.summary("old", closed_at="2026-11-25T12:00:00.000Z")]},
        match=[matchers.query_param_matcher({"include_closed": "true"})],
    )
    data = json.loads(run("session", "list", "--all", "--json").stdout)
    assert data["sessions"][0]["closed_at"] == "2026-11-25T12:00:00.000Z"


def test_session_list_with_no_sessions_says_how_to_make_one(configured, relay_http, run):
    relay_http.get(SESSIONS, json={"sessions": []})
    assert "agent-relay session create" in run("session", "list").stdout


def test_session_show_prints_participants_and_json(configured, relay_http, payloads, run):
    relay_http.get(f"{SESSIONS}/build-42", json=payloads.session("build-42", "bob-ws"))
    text = run("session", "show", "build-42").stdout
    assert "session     build-42 (open)" in text
    assert "bob-ws" in text
    data = json.loads(run("session", "show", "build-42", "--json").stdout)
    assert [p["client_id"] for p in data["participants"]] == ["alice-laptop", "bob-ws"]


def test_session_close(configured, relay_http, payloads, run):
    relay_http.delete(
        f"{SESSIONS}/build-42",
        json=payloads.session("build-42", closed_at="2026-11-25T12:00:00.000Z"),
    )
    result = run("session", "close", "build-42")
    assert result.stdout.startswith("Closed session build-42.\n")
    assert "(closed " in result.stdout


def test_closing_someone_elses_session_is_forbidden(configured, relay_http, payloads, run):
    relay_http.delete(
        f"{SESSIONS}/build-42",
        status=403,
        json=payloads.error("forbidden", "only its creator may close 'build-42'"),
    )
    result = run("session", "close", "build-42")
    assert result.exit_code == 4
    assert result.stderr == "Error: forbidden: only its creator may close 'build-42'\n"


def test_session_invite_resolves_names(configured, relay_http, payloads, run):
    run("peers", "add", "bob", "bob-ws")
    relay_http.post(
        f"{SESSIONS}/build-42/invite",
        json=payloads.session("build-42", "bob-ws"),
        match=[matchers.json_params_matcher({"clients": ["bob-ws"]})],
    )
    result = run("session", "invite", "build-42", "bob", "bob-ws")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Invited bob, bob-ws to build-42.")


def test_session_leave_drops_the_cursor(configured, relay_http, data_paths, run):
    from relay_client import Cursors

    Cursors(data_paths.cursors).set("build-42", 5)
    relay_http.post(f"{SESSIONS}/build-42/leave", status=204)
    assert run("session", "leave", "build-42").stdout == "Left session build-42.\n"
    assert Cursors(data_paths.cursors).get("build-42") is None

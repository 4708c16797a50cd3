import json

from relay_client import Roster

RELAY = "http://127.0.0.1:7878"


def test_peers_add_list_and_remove(configured, data_paths, run):
    assert "No peers yet" in run("peers", "list").stdout
    assert run("peers", "add", "bob", "bob-ws", "--notes", "builds images").exit_code == 0
    listing = run("peers", "list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "CLIENT", "ID", "NOTES"]
    assert listing[1].split() == ["bob", "bob-ws", "builds", "images"]
    assert run("peers", "remove", "bob").stdout == "Removed peer bob (bob-ws).\n"
    assert len(Roster.load(data_paths.peers)) == 0


def test_peers_list_json_is_for_scripts(configured, run):
    run("peers", "add", "bob", "bob-ws")
    assert json.loads(run("peers", "list", "--json").stdout) == {
        "peers": [
            {
                "name": "bob",
                "client_id": "bob-ws",
                "notes": "",
                "last_seen": None,
                "shared_sessions": [],
                "presence": None,  # known only with --relay
            }
        ]
    }


def test_adding_a_taken_name_is_a_conflict(configured, run):
    run("peers", "add", "bob", "bob-ws")
    result = run("peers", "add", "bob", "other")
    assert result.exit_code == 6
    assert result.stderr == "Error: conflict: peer 'bob' already exists (client id bob-ws)\n"
    assert run("peers", "add", "bob", "other", "--replace").exit_code == 0


def test_removing_an_unknown_peer_is_not_found(configured, run):
    result = run("peers", "remove", "zed")
    assert result.exit_code == 5
    assert "no peer named 'zed'" in result.stderr


def test_a_peer_with_an_invalid_client_id_is_refused(configured, run):
    result = run("peers", "add", "bob", "Bob WS")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid: client id 'Bob WS' is not valid")


def test_peers_list_with_relay_adds_who_the_relay_has_seen(configured, relay_http, payloads, run):
    run("peers", "add", "bob", "bob-ws")
    relay_http.get(
        f"{RELAY}/api/v1/peers",
        json={"peers": [payloads.peer("bob-ws", "build-42"), payloads.peer("dave-pc")]},
    )
    rows = json.loads(run("peers", "list", "--relay", "--json").stdout)["peers"]
    assert [(r["name"], r["client_id"], r["shared_sessions"]) for r in rows] == [
        ("bob", "bob-ws", ["build-42"]),
        (None, "dave-pc", []),
    ]
    text = run("peers", "list", "--relay").stdout
    assert "dave-pc" in text
    assert "ago" in text

"""The web view's routes over real HTTP, without a browser: the page, its headers, logins by
cookie, what a login may see, the live event stream, posting, and presence.

The browser drives the same routes in tests/e2e/test_web_view_browser.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from relay_server.config import load_config
from relay_server.http.ui import CONTENT_SECURITY_POLICY

API = "/api/v1"
TIMEOUT = 10


def login(relay, client_id: str | None = None, token: str | None = None) -> requests.Session:
    """A browser-like session logged in to the web view (with the relay's token by default)."""
    browser = requests.Session()
    headers = {}
    if token or relay.token:
        headers["Authorization"] = f"Bearer {token or relay.token}"
    if client_id:
        headers["X-Client-Id"] = client_id
    answer = browser.post(relay.url + "/ui/login", headers=headers, timeout=TIMEOUT)
    assert answer.status_code == 201, answer.text
    return browser


def create_session(relay, owner: str, name: str, members: list[str], token: str | None = None):
    answer = requests.post(
        relay.url + API + "/sessions",
        json={"name": name, "participants": members},
        headers=relay.headers(owner, token=token),
        timeout=TIMEOUT,
    )
    assert answer.status_code == 201, answer.text


def send(relay, sender: str, name: str, text: str, token: str | None = None, **extra) -> dict:
    answer = requests.post(
        relay.url + API + f"/sessions/{name}/messages",
        json={"text": text, **extra},
        headers=relay.headers(sender, token=token),
        timeout=TIMEOUT,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def upload(relay, sender: str, data: bytes, token: str | None = None) -> str:
    digest = hashlib.sha256(data).hexdigest()
    answer = requests.put(
        relay.url + f"/blobs/{digest}",
        data=data,
        headers=relay.headers(sender, token=token),
        timeout=TIMEOUT,
    )
    assert answer.status_code in (200, 201), answer.text
    return digest


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_the_root_and_ui_lead_to_the_page(relay):
    for path in ("/", "/ui"):
        answer = requests.get(relay.url + path, allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 307
        assert answer.headers["location"] == "/ui/"


def test_the_page_and_its_files_need_no_token_and_forbid_inline_scripts(relay):
    page = requests.get(relay.url + "/ui/", timeout=TIMEOUT)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every script of the page is a file of the relay's, none inline, none from elsewhere.
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts
    assert all(re.search(r'src="/ui/static/[a-z]+\.js"', s) for s in scripts)
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page.text))
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        asset = requests.get(relay.url + f"/ui/static/{name}", timeout=TIMEOUT)
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_only_the_pages_own_files_are_served(relay):
    for name in ("index.html", "..%2Fapp.py", "nope.js", "%2e%2e"):
        answer = requests.get(relay.url + f"/ui/static/{name}", timeout=TIMEOUT)
        assert answer.status_code == 404, name


def test_the_agents_text_never_reaches_markup_in_the_script():
    from importlib.resources import files

    script = files("relay_server").joinpath("ui", "app.js").read_text()
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "document.write" not in script
    assert "eval(" not in script


def test_a_wrong_or_missing_token_is_refused_and_gets_no_cookie(relay):
    for headers in ({"Authorization": "Bearer wrong-token-0123456789"}, {}):
        answer = requests.post(
            relay.url + "/ui/login", headers={**headers, "X-Client-Id": "viewer"}, timeout=TIMEOUT
        )
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert "set-cookie" not in answer.headers
    answer = requests.get(relay.url + "/ui/api/overview", timeout=TIMEOUT)
    assert answer.status_code == 401


def test_a_login_sets_an_httponly_strict_cookie_for_the_web_view_only(relay):
    answer = requests.post(
        relay.url + "/ui/login",
        headers={"Authorization": f"Bearer {relay.token}", "X-Client-Id": "viewer"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 201
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/ui;" in cookie.lower() + ";"
    assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    assert relay.token not in cookie


def test_the_cookie_is_secure_when_the_page_is_served_over_https(relay):
    # uvicorn takes X-Forwarded-Proto from a proxy on this machine, as behind a TLS proxy.
    answer = requests.post(
        relay.url + "/ui/login",
        headers={
            "Authorization": f"Bearer {relay.token}",
            "X-Client-Id": "viewer",
            "X-Forwarded-Proto": "https",
        },
        timeout=TIMEOUT,
    )
    assert answer.status_code == 201
    attributes = {p.strip().lower() for p in answer.headers["set-cookie"].split(";")}
    assert "secure" in attributes
    assert "httponly" in attributes


def test_the_cookie_opens_the_web_view_and_nothing_else(relay):
    browser = login(relay, "viewer")
    assert browser.get(relay.url + "/ui/api/overview", timeout=TIMEOUT).status_code == 200
    # Sent to every path, as a hostile client would, not only where the browser scopes it.
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    for path in (API + "/sessions", API + "/whoami", "/blobs/" + "0" * 64):
        answer = requests.get(relay.url + path, headers={"Cookie": cookie}, timeout=TIMEOUT)
        assert answer.status_code == 401, path


def test_logging_out_ends_the_login(relay):
    browser = login(relay, "viewer")
    kept = dict(browser.cookies)
    assert browser.post(relay.url + "/ui/logout", timeout=TIMEOUT).status_code == 204
    # Even a browser that kept the cookie is refused: the relay forgot the login.
    answer = requests.get(relay.url + "/ui/api/overview", cookies=kept, timeout=TIMEOUT)
    assert answer.status_code == 401


def test_a_made_up_cookie_is_refused(relay):
    answer = requests.get(
        relay.url + "/ui/api/overview", cookies={"relay_ui": "made-up"}, timeout=TIMEOUT
    )
    assert answer.status_code == 401


def test_the_overview_shows_sessions_participants_and_the_relays_numbers(relay):
    agent, other, name = unique("agent"), unique("other"), unique("room")
    requests.get(relay.url + API + "/whoami", headers=relay.headers(other), timeout=TIMEOUT)
    create_session(relay, agent, name, [other])
    send(relay, agent, name, "hello")
    overview = login(relay, agent).get(relay.url + "/ui/api/overview", timeout=TIMEOUT).json()
    assert overview["viewer"] == agent
    assert overview["post_as"] is None
    assert overview["tasks"] == []
    (view,) = [v for v in overview["sessions"] if v["session"]["name"] == name]
    presence = {p["client_id"]: p["presence"] for p in view["participants"]}
    assert presence == {agent: "online", other: "online"}
    counts = overview["status"]["counts"]
    assert counts["sessions"] >= 1
    assert counts["messages"] >= 1
    assert {"blobs", "blob_bytes"} <= counts.keys()
    assert overview["status"]["uptime_s"] > 0


def test_the_overview_lists_the_tasks_of_the_viewers_sessions_with_their_state(relay):
    giver, worker, outsider, name = unique("giver"), unique("worker"), unique("out"), unique("t")
    create_session(relay, giver, name, [worker])
    given = requests.post(
        relay.url + API + f"/sessions/{name}/tasks",
        json={"title": "Port the <b>parser</b>"},
        headers=relay.headers(giver),
        timeout=TIMEOUT,
    )
    assert given.status_code == 201, given.text
    task_id = given.json()["id"]
    claimed = requests.post(
        relay.url + API + f"/tasks/{task_id}/claim",
        json={},
        headers=relay.headers(worker),
        timeout=TIMEOUT,
    )
    assert claimed.status_code == 200, claimed.text
    overview = login(relay, giver).get(relay.url + "/ui/api/overview", timeout=TIMEOUT).json()
    (task,) = [t for t in overview["tasks"] if t["id"] == task_id]
    assert (task["title"], task["state"], task["claimed_by"]) == (
        "Port the <b>parser</b>",
        "working",
        worker,
    )
    theirs = login(relay, outsider).get(relay.url + "/ui/api/overview", timeout=TIMEOUT).json()
    assert task_id not in [t["id"] for t in theirs["tasks"]]


def test_watching_through_the_web_view_does_not_count_as_the_client_calling(relay):
    # The relay creates a client on its first call; a person watching as one is no call.
    observer, ghost = unique("observer"), unique("ghost")

    def clients() -> int:
        status = requests.get(relay.url + API + "/status", headers=relay.headers(observer))
        return status.json()["counts"]["clients"]

    before = clients()
    login(relay, ghost).get(relay.url + "/ui/api/overview", timeout=TIMEOUT).raise_for_status()
    assert clients() == before


def read_events(stream: requests.Response) -> Iterator[tuple[str, dict]]:
    """(event, data) pairs of a server-sent event stream, as they arrive."""
    event, data = "message", []
    for line in stream.iter_lines(decode_unicode=True):
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())


def test_the_event_stream_carries_messages_sent_after_it_opened(relay):
    agent, other, name = unique("agent"), unique("other"), unique("room")
    create_session(relay, agent, name, [other])
    first = send(relay, agent, name, "before")
    browser = login(relay, other)
    url = relay.url + f"/ui/api/sessions/{name}/events?after={first['id']}"
    with browser.get(url, stream=True, timeout=TIMEOUT) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        relay.wait_for_listeners(1)
        events = read_events(stream)
        sent = send(relay, agent, name, "<script>alert(1)</script>")
        kind, message = next(events)
        assert kind == "message"
        assert (message["id"], message["text"]) == (sent["id"], "<script>alert(1)</script>")
        # The viewer's own messages come too (a watch alone would not hear them).
        own = send(relay, other, name, "mine")
        assert next(events)[1]["id"] == own["id"]


def test_the_event_stream_resumes_after_the_last_event_id(relay):
    agent, name = unique("agent"), unique("room")
    create_session(relay, agent, name, [])
    ids = [send(relay, agent, name, f"m{i}")["id"] for i in range(3)]
    browser = login(relay, agent)
    url = relay.url + f"/ui/api/sessions/{name}/events"
    with browser.get(url, stream=True, headers={"Last-Event-ID": str(ids[0])}, timeout=10) as s:
        events = read_events(s)
        assert [next(events)[1]["id"] for _ in range(2)] == ids[1:]


def test_a_download_is_the_files_bytes_offered_for_saving(relay):
    agent, name = unique("agent"), unique("room")
    create_session(relay, agent, name, [])
    data = b"report \x00\xff" * 1000
    digest = upload(relay, agent, data)
    send(relay, agent, name, "here", attachments=[{"sha256": digest, "filename": "a b.txt"}])
    # The name comes from the link: whatever it says, it cannot end the header or add to it.
    url = relay.url + f"/ui/api/blobs/{digest}?name=a%20b%0D%0A.txt"
    answer = login(relay, agent).get(url, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert hashlib.sha256(answer.content).hexdigest() == digest
    assert answer.headers["content-disposition"] == "attachment; filename*=UTF-8''a%20b%0D%0A.txt"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_a_per_client_login_sees_only_what_that_client_may_see(start_relay):
    relay = start_relay(token=None, auth_mode="per-client")
    alpha_token, beta_token = relay.add_client("alpha"), relay.add_client("beta")
    create_session(relay, "alpha", "secret", [], token=alpha_token)
    digest = upload(relay, "alpha", b"alpha only", token=alpha_token)
    attachment = {"sha256": digest, "filename": "a.txt"}
    send(relay, "alpha", "secret", "hidden", token=alpha_token, attachments=[attachment])
    create_session(relay, "beta", "shared", ["alpha"], token=beta_token)

    # The cookie stands for beta's token: no X-Client-Id can make it someone else.
    beta = login(relay, token=beta_token)
    overview = beta.get(relay.url + "/ui/api/overview", timeout=TIMEOUT).json()
    assert overview["viewer"] == "beta"
    assert [v["session"]["name"] for v in overview["sessions"]] == ["shared"]
    for path in ("/sessions/secret/messages", "/sessions/secret/events"):
        refused = beta.get(relay.url + "/ui/api" + path, timeout=TIMEOUT)
        assert refused.status_code == 403, path
    assert beta.get(relay.url + f"/ui/api/blobs/{digest}", timeout=TIMEOUT).status_code == 404
    answer = beta.get(relay.url + "/ui/api/overview", headers={"X-Client-Id": "alpha"}, timeout=10)
    assert answer.json()["viewer"] == "beta"  # the cookie's identity, not a header's

    alpha = login(relay, token=alpha_token)
    sessions = alpha.get(relay.url + "/ui/api/overview", timeout=TIMEOUT).json()["sessions"]
    assert {v["session"]["name"] for v in sessions} == {"secret", "shared"}
    download = alpha.get(relay.url + f"/ui/api/blobs/{digest}", timeout=TIMEOUT)
    assert download.content == b"alpha only"

    # A replaced token ends the logins made with it.
    relay.add_client("beta")
    assert beta.get(relay.url + "/ui/api/overview", timeout=TIMEOUT).status_code == 401


def test_the_web_view_is_read_only_unless_the_operator_names_a_poster(relay):
    agent, name = unique("agent"), unique("room")
    create_session(relay, agent, name, [])
    browser = login(relay, agent)
    answer = browser.post(
        relay.url + f"/ui/api/sessions/{name}/messages", json={"text": "hi"}, timeout=TIMEOUT
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


def test_a_person_posts_as_the_named_human_participant(start_relay):
    relay = start_relay(ui_post_as="dana")
    requests.get(relay.url + API + "/whoami", headers=relay.headers("dana"), timeout=TIMEOUT)
    create_session(relay, "agent", "room", ["dana"])
    browser = login(relay, "agent")
    overview = browser.get(relay.url + "/ui/api/overview", timeout=TIMEOUT).json()
    assert overview["post_as"] == "dana"
    answer = browser.post(
        relay.url + "/ui/api/sessions/room/messages", json={"text": "stop"}, timeout=TIMEOUT
    )
    assert answer.status_code == 201, answer.text
    page = browser.get(relay.url + "/ui/api/sessions/room/messages", timeout=TIMEOUT).json()
    assert [(m["sender"], m["text"]) for m in page["messages"]] == [("dana", "stop")]


def test_with_per_client_tokens_only_the_named_humans_own_login_may_post(start_relay):
    relay = start_relay(token=None, auth_mode="per-client", ui_post_as="dana")
    agent_token, dana_token = relay.add_client("agent"), relay.add_client("dana")
    create_session(relay, "agent", "room", ["dana"], token=agent_token)
    agent = login(relay, token=agent_token)
    assert agent.get(relay.url + "/ui/api/overview").json()["post_as"] is None
    url = relay.url + "/ui/api/sessions/room/messages"
    assert agent.post(url, json={"text": "x"}, timeout=TIMEOUT).status_code == 403
    dana = login(relay, token=dana_token)
    assert dana.post(url, json={"text": "here"}, timeout=TIMEOUT).status_code == 201


def test_ui_post_as_must_be_a_client_id():
    from relay_core import InvalidInput

    with pytest.raises(InvalidInput, match="RELAY_UI_POST_AS"):
        load_config(environ={"RELAY_UI_POST_AS": "Not A Name/"})


@pytest.mark.anyio
async def test_a_participant_with_an_open_mcp_connection_is_live(start_relay):
    relay = start_relay()
    create_session(relay, "watcher", "room", ["agent"])
    browser = login(relay, "watcher")

    def presence() -> dict[str, str]:
        overview = browser.get(relay.url + "/ui/api/overview", timeout=TIMEOUT).json()
        (view,) = overview["sessions"]
        return {p["client_id"]: p["presence"] for p in view["participants"]}

    assert presence()["agent"] != "live"
    transport = StreamableHttpTransport(relay.mcp_url, headers=relay.headers("agent"))
    async with Client(transport) as client:
        await client.ping()
        # The client opens its stream right after the handshake: give it a bounded moment.
        with anyio.fail_after(10):
            while presence()["agent"] != "live":
                await anyio.sleep(0.05)
    with anyio.fail_after(10):
        while presence()["agent"] == "live":
            await anyio.sleep(0.05)


def test_the_relay_server_wheel_ships_the_page(tmp_path):
    """The page is package data: a relay installed from its wheel serves it too."""
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        ["uv", "build", "--package", "relay-server", "--wheel", "--out-dir", str(tmp_path)],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("relay_server-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"relay_server/ui/{name}" for name in ("index.html", "app.css", "app.js")} <= names


@pytest.mark.relay_process  # `serve`'s own shutdown, which closes the event hub first
def test_stopping_the_relay_ends_an_open_event_stream_cleanly(start_relay):
    relay = start_relay()
    create_session(relay, "agent", "room", [])
    browser = login(relay, "agent")
    url = relay.url + "/ui/api/sessions/room/events"
    with browser.get(url, stream=True, timeout=TIMEOUT) as stream:
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines).startswith("retry:")  # sent once the stream is watching
        relay.stop()
        # The stream ends with its last chunk; one cut off by the grace period would raise.
        assert [line for line in lines if line] == []
    assert "Traceback" not in relay.log()


def test_a_newline_after_the_pages_paths_is_not_the_page(relay):
    # Starlette's route patterns end in `$`, which also matches before a final newline.
    for path in ("/%0A", "/ui%0A", "/ui/%0A"):
        answer = requests.get(
            relay.url + path, headers=relay.headers("alpha"), allow_redirects=False, timeout=10
        )
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"

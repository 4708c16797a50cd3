import email.utils
import json
import time

import requests

RELAY = "http://127.0.0.1:7878"


def relay_answers(relay_http, payloads, *, date=None, whoami=None):
    headers = {"Date": date} if date else {}
    relay_http.get(f"{RELAY}/healthz", json=payloads.health(), headers=headers)
    relay_http.get(f"{RELAY}/api/v1/whoami", json=whoami or payloads.whoami())


def now_http_date():
    from email.utils import formatdate

    return formatdate(usegmt=True)


def test_status_shows_relay_you_counts_unread_and_peers(configured, relay_http, payloads, run):
    run("peers", "add", "bob", "bob-ws")
    relay_http.get(f"{RELAY}/api/v1/status", json=payloads.status(unread=3))
    relay_http.get(f"{RELAY}/api/v1/peers", json={"peers": [payloads.peer("bob-ws", "build-42")]})
    relay_http.get(
        f"{RELAY}/api/v1/sessions", json={"sessions": [payloads.summary("build-42", unread=3)]}
    )
    text = run("status").stdout
    assert f"relay     {RELAY}: version 0.1.0, up 2 h 1 min" in text
    assert "you       alice-laptop (auth mode shared)" in text
    assert "holds     2 clients, 1 sessions, 5 messages, 1 files (2.0 KiB)" in text
    assert "unread    3 message(s)" in text
    assert "  build-42: 3 unread" in text
    assert "bob" in text
    assert "build-42" in text.splitlines()[-1]


def test_status_json_has_everything(configured, relay_http, payloads, run):
    relay_http.get(f"{RELAY}/api/v1/status", json=payloads.status())
    relay_http.get(f"{RELAY}/api/v1/peers", json={"peers": []})
    relay_http.get(f"{RELAY}/api/v1/sessions", json={"sessions": []})
    data = json.loads(run("status", "--json").stdout)
    assert set(data) == {"relay_url", "status", "peers", "sessions"}
    assert data["status"]["counts"]["messages"] == 5


def test_status_of_a_relay_that_is_down(configured, relay_http, run):
    relay_http.get(f"{RELAY}/api/v1/status", body=requests.ConnectionError("Connection refused"))
    result = run("status")
    assert result.exit_code == 9
    assert "connection refused" in result.stderr


def doctor_lines(run):
    result = run("doctor")
    return result, {line.split()[1]: line for line in result.stdout.splitlines() if line[0] != " "}


def test_doctor_on_a_healthy_machine_passes(configured, relay_http, payloads, fake_claude, run):
    run("connect")
    relay_answers(relay_http, payloads, date=now_http_date())
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.output
    states = {c["name"]: c["state"] for c in json.loads(result.stdout)["checks"]}
    assert states == {
        "data root": "ok",
        "config": "ok",
        "peers": "ok",
        "cursors": "ok",
        "relay": "ok",
        "token": "ok",
        "clock": "ok",
        "claude code": "ok",
    }


def test_doctor_on_a_fresh_machine_says_to_onboard(data_paths, no_claude, run):
    result = run("doctor")
    assert result.exit_code == 1
    assert "FAIL  config" in result.stdout
    assert "fix: run `agent-relay onboard`" in result.stdout


def test_doctor_names_the_line_of_a_broken_config(data_paths, no_claude, run, write):
    write(data_paths.config, 'relay_url = "http://127.0.0.1:7878"\nclient_id = \n')
    result = run("doctor")
    assert result.exit_code == 1
    assert f"{data_paths.config} line 2" in result.stdout


def test_doctor_warns_about_a_config_others_can_read(
    configured, data_paths, relay_http, payloads, fake_claude, run
):
    data_paths.config.chmod(0o644)
    relay_answers(relay_http, payloads)
    result = run("doctor")
    assert f"fix: chmod 600 {data_paths.config}" in result.stdout
    assert result.exit_code == 0


def test_doctor_says_to_start_a_relay_that_is_down(configured, relay_http, no_claude, run):
    relay_http.get(f"{RELAY}/healthz", body=requests.ConnectionError("Connection refused"))
    result = run("doctor")
    assert result.exit_code == 1
    assert "FAIL  relay" in result.stdout
    assert "fix: start the relay (`agent-relay-server serve`)" in result.stdout


def test_doctor_says_how_to_fix_a_wrong_token(configured, relay_http, payloads, no_claude, run):
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    relay_http.get(
        f"{RELAY}/api/v1/whoami", status=401, json=payloads.error("unauthorized", "bad token")
    )
    result = run("doctor")
    assert result.exit_code == 1
    assert "FAIL  token        bad token" in result.stdout
    assert "agent-relay onboard --token TOKEN" in result.stdout


def test_doctor_warns_about_clock_skew(configured, relay_http, payloads, no_claude, run):
    an_hour_ahead = email.utils.formatdate(time.time() + 3600, usegmt=True)
    relay_answers(relay_http, payloads, date=an_hour_ahead)
    result = run("doctor")
    assert "WARN  clock" in result.stdout
    assert "behind the relay's" in result.stdout
    assert "timedatectl set-ntp true" in result.stdout


def test_doctor_says_to_connect_when_claude_code_lacks_the_relay(
    configured, relay_http, payloads, fake_claude, run
):
    relay_answers(relay_http, payloads)
    result = run("doctor")
    assert "WARN  claude code  agent-relay is not registered" in result.stdout
    assert "fix: run `agent-relay connect`" in result.stdout


def test_doctor_notices_a_registration_for_another_url(
    configured, relay_http, payloads, fake_claude, run
):
    run("connect")
    run("onboard", "--relay-url", "http://127.0.0.2:7878", "--no-check")
    relay_http.get("http://127.0.0.2:7878/healthz", body=requests.ConnectionError("refused"))
    result = run("doctor")
    assert f"uses {RELAY}/mcp, but config.toml says http://127.0.0.2:7878/mcp" in result.stdout


def test_doctor_says_when_claude_code_is_not_installed(
    configured, relay_http, payloads, no_claude, run
):
    relay_answers(relay_http, payloads)
    assert "the `claude` command was not found on PATH" in run("doctor").stdout


def test_doctor_notices_a_token_known_as_another_client(
    configured, relay_http, payloads, no_claude, run
):
    relay_answers(relay_http, payloads, whoami=payloads.whoami("bob-ws"))
    result = run("doctor")
    assert "WARN  token        the relay knows you as bob-ws" in result.stdout


def test_doctor_says_which_host_name_the_relay_must_allow(data_paths, relay_http, no_claude, run):
    run("onboard", "--relay-url", "http://10.0.0.5:7878", "--client-id", "me", "--no-check")
    relay_http.get("http://10.0.0.5:7878/healthz", status=421, body="Misdirected Request")
    result = run("doctor")
    assert result.exit_code == 1
    assert "FAIL  relay        http://10.0.0.5:7878 refused the host name '10.0.0.5'" in (
        result.stdout
    )
    assert "fix: the relay's operator must add '10.0.0.5' to allowed_hosts" in result.stdout


def test_doctor_accepts_the_plugins_registration_without_asking_to_connect(
    configured, relay_http, payloads, fake_claude, run
):
    relay_answers(relay_http, payloads)
    fake_claude.install_plugin(f"{RELAY}/mcp", configured.client_id)
    result = run("doctor")
    assert result.exit_code == 0, result.output
    assert "OK    claude code  registered by the agent-relay plugin" in result.stdout
    assert "agent-relay connect" not in result.stdout


def test_doctor_warns_when_the_relay_is_registered_twice(
    configured, relay_http, payloads, fake_claude, run
):
    relay_answers(relay_http, payloads)
    fake_claude.install_plugin(f"{RELAY}/mcp", configured.client_id)
    run("connect")
    result = run("doctor")
    assert "WARN  claude code  registered twice" in result.stdout
    assert "fix: keep the plugin's: `claude mcp remove agent-relay`" in result.stdout


def test_doctor_warns_when_the_plugin_and_the_command_line_are_two_clients(
    configured, relay_http, payloads, fake_claude, run
):
    relay_answers(relay_http, payloads)
    fake_claude.install_plugin(f"{RELAY}/mcp", "alice-agent")
    result = run("doctor")
    assert "WARN  claude code  the plugin identifies as alice-agent" in result.stdout
    assert "fix: `agent-relay onboard --client-id alice-agent`" in result.stdout

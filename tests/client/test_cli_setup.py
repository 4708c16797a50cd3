import json
import stat

import requests

from relay_client import ClientConfig, Roster

RELAY = "http://127.0.0.1:7878"


def checked_relay(relay_http, payloads, client_id="alice-laptop"):
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    relay_http.get(f"{RELAY}/api/v1/whoami", json=payloads.whoami(client_id))


def test_onboard_with_flags_writes_config_and_peers_and_checks_the_relay(
    data_paths, relay_http, payloads, run
):
    checked_relay(relay_http, payloads)
    result = run(
        "onboard",
        "--relay-url", RELAY,
        "--client-id", "alice-laptop",
        "--token", "tok-123",
        "--add-peer", "bob=bob-ws",
        "--add-peer", "carol=carol-box",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ClientConfig.load(data_paths.config) == ClientConfig(RELAY, "alice-laptop", "tok-123")
    assert stat.S_IMODE(data_paths.config.stat().st_mode) == 0o600
    assert [p.name for p in Roster.load(data_paths.peers)] == ["bob", "carol"]
    assert "answers (version 0.1.0)" in result.stdout
    assert "Token accepted: you are alice-laptop" in result.stdout
    assert relay_http.calls[1].request.headers["Authorization"] == "Bearer tok-123"


def test_onboard_again_keeps_what_it_is_not_told_to_change(configured, data_paths, run):
    result = run("onboard", "--token", "new-token", "--no-check")
    assert result.exit_code == 0, result.output
    config = ClientConfig.load(data_paths.config)
    assert (config.relay_url, config.client_id, config.token) == (
        configured.relay_url,
        configured.client_id,
        "new-token",
    )


def test_onboard_asks_for_each_value_and_enter_keeps_the_default(data_paths, run):
    answers = "\n".join(["http://127.0.0.1:9999", "", "tok-abc", "bob=bob-ws", "", ""])
    result = run("onboard", "--no-check", input=answers)
    assert result.exit_code == 0, result.output
    config = ClientConfig.load(data_paths.config)
    assert config.relay_url == "http://127.0.0.1:9999"
    assert config.token == "tok-abc"
    assert config.client_id  # the user-host default
    assert Roster.load(data_paths.peers).resolve("bob") == "bob-ws"


def test_onboard_asks_again_after_a_bad_answer(data_paths, run):
    answers = "\n".join(["not a url", "http://127.0.0.1:9999", "Bad Id", "good-id", "", "", ""])
    result = run("onboard", "--no-check", input=answers)
    assert result.exit_code == 0, result.output
    assert "is not valid" in result.output
    assert ClientConfig.load(data_paths.config).client_id == "good-id"


def test_onboard_without_input_uses_defaults_on_a_first_run(data_paths, run):
    result = run("onboard", "--no-input", "--no-check")
    assert result.exit_code == 0, result.output
    config = ClientConfig.load(data_paths.config)
    assert config.relay_url == "http://127.0.0.1:7878"
    assert config.token == ""


def test_onboard_with_a_bad_flag_writes_nothing(data_paths, run):
    result = run("onboard", "--relay-url", "relay.lan", "--no-check")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid: relay URL 'relay.lan' is not valid")
    assert not data_paths.config.exists()


def test_onboard_as_the_relays_own_id_is_refused_and_writes_nothing(data_paths, run):
    result = run("onboard", "--relay-url", RELAY, "--client-id", "relay", "--no-check")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid: client id 'relay' is reserved")
    assert not data_paths.config.exists()


def test_onboard_with_a_bad_peer_is_invalid(data_paths, run):
    result = run("onboard", "--no-input", "--no-check", "--add-peer", "bob")
    assert result.stderr == "Error: invalid: peer 'bob' is not NAME=CLIENT_ID\n"


def test_onboard_saves_then_reports_a_token_the_relay_refuses(
    data_paths, relay_http, payloads, run
):
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    relay_http.get(
        f"{RELAY}/api/v1/whoami", status=401, json=payloads.error("unauthorized", "bad token")
    )
    result = run("onboard", "--relay-url", RELAY, "--client-id", "a", "--token", "wrong")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: unauthorized: bad token")
    assert data_paths.config.exists()


def test_onboard_reports_a_relay_that_is_not_running(data_paths, relay_http, run):
    relay_http.get(f"{RELAY}/healthz", body=requests.ConnectionError("Connection refused"))
    result = run("onboard", "--relay-url", RELAY, "--client-id", "a")
    assert result.exit_code == 9
    assert "is `agent-relay-server serve` running?" in result.stderr


def test_onboard_warns_when_the_token_belongs_to_another_client(
    data_paths, relay_http, payloads, run
):
    checked_relay(relay_http, payloads, client_id="bob-ws")
    result = run("onboard", "--relay-url", RELAY, "--client-id", "alice", "--token", "t")
    assert result.exit_code == 0
    assert "the relay knows this token as 'bob-ws'" in result.stderr


def test_connect_print_builds_the_mcp_config(configured, run):
    result = run("connect", "--print")
    assert json.loads(result.stdout) == {
        "mcpServers": {
            "agent-relay": {
                "type": "http",
                "url": f"{RELAY}/mcp",
                "headers": {
                    "Authorization": f"Bearer {configured.token}",
                    "X-Client-Id": "alice-laptop",
                },
            }
        }
    }


def test_connect_registers_with_claude_code(configured, fake_claude, run):
    result = run("connect")
    assert result.exit_code == 0, result.output
    assert fake_claude.registered["args"] == [
        "mcp", "add", "--transport", "http", "agent-relay", f"{RELAY}/mcp",
        "--header", f"Authorization: Bearer {configured.token}",
        "--header", "X-Client-Id: alice-laptop",
        "--scope", "user",
    ]  # fmt: skip
    assert configured.token not in result.output


def test_connect_again_replaces_the_old_registration(configured, fake_claude, run):
    run("connect")
    result = run("connect", "--scope", "project")
    assert result.exit_code == 0, result.output
    assert fake_claude.registered["args"][-2:] == ["--scope", "project"]


def test_connect_without_claude_code_says_what_to_do(configured, no_claude, run):
    result = run("connect")
    assert result.exit_code == 5
    assert "agent-relay connect --print" in result.stderr


def test_config_path_prints_the_data_root(data_paths, run):
    assert run("config", "path").stdout == f"{data_paths.root}\n"


def test_config_show_masks_the_token(configured, data_paths, run):
    text = run("config", "show").stdout
    assert configured.token not in text
    assert "s3cr****" in text
    shown = json.loads(run("config", "show", "--json").stdout)
    assert shown["token"] == "s3cr****"
    assert shown["config_file"] == str(data_paths.config)


def test_onboard_with_the_mcp_endpoint_saves_and_checks_the_relay_below_it(
    data_paths, relay_http, payloads, run
):
    checked_relay(relay_http, payloads)
    result = run("onboard", "--relay-url", f"{RELAY}/mcp/", "--client-id", "alice-laptop")
    assert result.exit_code == 0, result.output
    assert ClientConfig.load(data_paths.config).relay_url == RELAY
    assert relay_http.calls[0].request.url == f"{RELAY}/healthz"
    assert f"Using relay URL {RELAY}" in result.stderr


def test_onboard_tells_a_plugin_user_there_is_nothing_to_connect(
    data_paths, relay_http, payloads, fake_claude, run
):
    checked_relay(relay_http, payloads)
    fake_claude.install_plugin(f"{RELAY}/mcp", "alice-laptop")
    result = run("onboard", "--relay-url", RELAY, "--client-id", "alice-laptop")
    assert result.exit_code == 0, result.output
    assert "through the agent-relay plugin (plugin:agent-relay:agent-relay)" in result.stdout
    assert "Next: `agent-relay connect`" not in result.stdout
    assert ["mcp", "add"] not in [call[:2] for call in fake_claude.calls]


def test_onboard_without_the_plugin_says_to_connect(data_paths, fake_claude, run):
    result = run("onboard", "--relay-url", RELAY, "--client-id", "alice-laptop", "--no-check")
    assert result.stdout.splitlines()[-1].startswith("Next: `agent-relay connect` registers")


def test_connect_in_the_project_scope_hands_over_a_token_reference_not_the_token(
    configured, fake_claude, run
):
    result = run("connect", "--scope", "project")
    assert result.exit_code == 0, result.output
    args = fake_claude.registered["args"]
    assert "Authorization: Bearer ${AGENT_RELAY_TOKEN}" in args
    assert not any(configured.token in arg for arg in args)
    assert "Warning: the project scope writes the project's .mcp.json" in result.stderr
    assert "AGENT_RELAY_TOKEN" in result.stderr
    assert configured.token not in result.output


def test_onboard_json_is_one_object_with_the_token_masked_and_asks_nothing(
    data_paths, relay_http, payloads, run
):
    checked_relay(relay_http, payloads)
    result = run(
        "onboard", "--json", "--relay-url", RELAY, "--client-id", "alice-laptop",
        "--token", "tok-1234567890", "--add-peer", "bob=bob-ws",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["token"] == "tok-****"
    assert "tok-1234567890" not in result.output
    assert answer["whoami"]["client_id"] == "alice-laptop"
    assert answer["relay"]["version"] == "0.1.0"
    assert answer["peers_added"] == [{"name": "bob", "client_id": "bob-ws"}]
    assert answer["next"].startswith("Next: `agent-relay connect`")


def test_onboard_json_without_values_does_not_prompt(data_paths, run):
    result = run("onboard", "--json", "--no-check")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["relay_url"] == "http://127.0.0.1:7878"

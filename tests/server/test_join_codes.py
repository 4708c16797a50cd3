"""Join codes: a one-time code exchanged for a token, on a real relay over real HTTP.

The operator's ``join-code`` runs as the command (click's runner, in this process, beside the
in-process relay, as it would beside ``serve``); the new machine's side is ``agent-relay onboard
--join`` with a data root of its own, which then reaches the relay with what it got.
"""

import hashlib
import re
import sqlite3

import pytest
import requests
from click.testing import CliRunner

from relay_client.cli import cli as client_cli
from relay_server.cli import main as server_cli

JOIN = "/api/v1/join"


def join_code(relay, *args: str) -> tuple[str, str]:
    """(the code as read aloud, the --join argument printed) from `join-code`."""
    env = {**relay.env, "RELAY_PORT": str(relay.port)}  # as the relay's own config says
    result = CliRunner().invoke(
        server_cli, ["join-code", "--data-dir", str(relay.data_dir), *args], env=env
    )
    assert result.exit_code == 0, result.output
    code = re.search(r"^    ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$", result.output, re.M)
    printed = re.search(r"agent-relay onboard --join (\S+)$", result.output, re.M)
    assert code is not None, result.output
    assert printed is not None, result.output
    return code.group(1), printed.group(1)


def onboard(tmp_path, name: str, *args: str):
    root = tmp_path / name
    env = {"CLAUDE_USER_DATA": str(root), "AGENT_RELAY_CLAUDE": str(tmp_path / "no-claude")}
    result = CliRunner().invoke(client_cli, ["onboard", *args], env=env)
    return result, root / "agent-relay" / "config.toml"


def exchange(relay, code: str, client_id: str | None = "newbie") -> requests.Response:
    return requests.post(relay.url + JOIN, json={"code": code, "client_id": client_id}, timeout=10)


def whoami(relay, token: str) -> requests.Response:
    return requests.get(
        relay.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def saved_token(config_file) -> str:
    return re.search(r'^token = "(.*)"$', config_file.read_text(), re.M).group(1)


@pytest.fixture
def per_client(start_relay):
    return start_relay(token=None, auth_mode="per-client")


def test_two_machines_onboard_with_join_codes_and_each_gets_its_own_token(per_client, tmp_path):
    _, first = join_code(per_client)
    _, second = join_code(per_client, "--client-id", "desk")
    assert first.endswith(f"@127.0.0.1:{per_client.port}")
    one, one_config = onboard(tmp_path, "laptop", "--join", first, "--client-id", "laptop")
    two, two_config = onboard(tmp_path, "desk", "--join", second)
    assert one.exit_code == 0, one.output
    assert two.exit_code == 0, two.output
    assert "Token accepted: you are laptop" in one.output
    assert "Token accepted: you are desk" in two.output
    tokens = {saved_token(one_config), saved_token(two_config)}
    assert len(tokens) == 2
    for token in tokens:
        assert token not in one.output + two.output  # saved, never printed
        assert whoami(per_client, token).status_code == 200
    assert f'relay_url = "http://127.0.0.1:{per_client.port}"' in one_config.read_text()


def test_a_code_works_once(per_client):
    code, _ = join_code(per_client)
    first = exchange(per_client, code)
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    again = exchange(per_client, code, "someone-else")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "unauthorized"
    assert whoami(per_client, first.json()["token"]).json()["client_id"] == "newbie"


def test_an_expired_code_is_refused(per_client):
    code, _ = join_code(per_client, "--ttl", "1h")
    with sqlite3.connect(per_client.data_dir / "relay.sqlite3") as db:
        db.execute("UPDATE join_code SET expires_ms = expires_ms - 3600 * 1000 - 1")
    refused = exchange(per_client, code)
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]
    assert "refused from 127.0.0.1: expired" in per_client.log()


def test_the_code_is_stored_only_as_a_hash(per_client):
    code, _ = join_code(per_client)
    secret = code.replace("-", "")
    stored = (per_client.data_dir / "relay.sqlite3").read_bytes()
    for wal in per_client.data_dir.glob("relay.sqlite3-wal"):
        stored += wal.read_bytes()
    assert secret.encode() not in stored
    assert code.encode() not in stored
    with sqlite3.connect(per_client.data_dir / "relay.sqlite3") as db:
        (code_hash,) = db.execute("SELECT code_hash FROM join_code").fetchone()
    assert code_hash == hashlib.sha256(b"agent-relay join code:" + secret.encode()).hexdigest()


def test_a_typed_code_may_differ_in_case_dashes_and_look_alikes(per_client):
    code, _ = join_code(per_client)
    typed = code.replace("-", " ").lower().replace("0", "o").replace("1", "l")
    assert exchange(per_client, typed).status_code == 200


def test_wrong_guesses_are_refused_counted_logged_then_limited(per_client):
    code, _ = join_code(per_client)
    guesses = ["AAAA-AAAA-AAAA", "2222-3333-4444", "not a code", "ZZZZ-ZZZZ-ZZZZ", "9999-9999-999"]
    for guess in guesses:
        assert exchange(per_client, guess).status_code == 401
    limited = exchange(per_client, code)  # even the right code waits now
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    log = per_client.log()
    assert "join code refused from 127.0.0.1: unknown code (1 wrong" in log
    assert "(5 wrong from there in 10 min)" in log
    assert "too many wrong codes" in log
    for guess in guesses:
        assert guess not in log
    assert code not in log


def test_a_taken_client_id_is_refused_and_the_code_is_kept(per_client):
    per_client.add_client("alpha")
    code, _ = join_code(per_client)
    taken = exchange(per_client, code, "alpha")
    assert taken.status_code == 409
    assert "join-code --client-id alpha" in taken.json()["error"]["message"]
    assert exchange(per_client, code, "beta").status_code == 200


def test_a_code_for_a_named_client_rotates_its_token_at_once(per_client):
    old = per_client.add_client("alpha")
    assert whoami(per_client, old).status_code == 200
    code, _ = join_code(per_client, "--client-id", "alpha")
    joined = exchange(per_client, code, None)
    assert joined.status_code == 200
    assert joined.json()["client_id"] == "alpha"
    assert whoami(per_client, old).status_code == 401
    assert whoami(per_client, joined.json()["token"]).status_code == 200


def test_in_shared_mode_the_code_hands_over_the_shared_token(start_relay, tmp_path):
    relay = start_relay()  # shared token mode
    _, printed = join_code(relay)
    stored = (relay.data_dir / "relay.sqlite3").read_bytes()
    assert relay.token.encode() not in stored  # sealed, not stored as it is
    result, config_file = onboard(tmp_path, "laptop", "--join", printed, "--client-id", "laptop")
    assert result.exit_code == 0, result.output
    assert saved_token(config_file) == relay.token
    assert relay.token not in result.output
    assert "Token accepted: you are laptop (auth mode shared)" in result.output


def test_an_open_relay_needs_no_join_code(start_relay):
    relay = start_relay(token=None)
    result = CliRunner().invoke(
        server_cli, ["join-code", "--data-dir", str(relay.data_dir)], env=relay.env
    )
    assert result.exit_code == 2
    assert "runs open" in result.output


def test_neither_code_nor_token_reaches_the_access_log(per_client, tmp_path):
    _, printed = join_code(per_client)
    result, config_file = onboard(tmp_path, "laptop", "--join", printed, "--client-id", "laptop")
    assert result.exit_code == 0, result.output
    log = per_client.log()
    assert "POST /api/v1/join" in log
    assert printed.split("@")[0] not in log
    assert saved_token(config_file) not in log


def test_a_relay_keeping_only_the_tokens_hash_asks_for_the_token_to_hand_over(start_relay):
    token = "shared-token-0123456789abcdef"
    relay = start_relay(token=None, token_sha256=hashlib.sha256(token.encode()).hexdigest())
    args = ["join-code", "--data-dir", str(relay.data_dir)]
    wrong = CliRunner().invoke(server_cli, args, env=relay.env, input="not-the-token\n")
    assert wrong.exit_code == 1
    assert "not this relay's shared token" in wrong.output
    right = CliRunner().invoke(server_cli, args, env=relay.env, input=token + "\n")
    assert right.exit_code == 0, right.output
    code = re.search(r"^    ([0-9A-Z-]{14})$", right.output, re.M).group(1)
    joined = exchange(relay, code, "laptop")
    assert joined.status_code == 200, joined.text
    assert joined.json() == {"client_id": "laptop", "token": token, "auth_mode": "shared"}

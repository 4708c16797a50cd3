"""What a person sees when something goes wrong: one sentence on stderr and an exit code."""

import hashlib

import pytest
import requests
from click.testing import CliRunner

from relay_client.cli.app import EXIT_CODES, RelayGroup
from relay_core.errors import ERROR_CLASSES

RELAY = "http://127.0.0.1:7878"
SESSION_URL = f"{RELAY}/api/v1/sessions/build-42"

CASES = [
    (
        401,
        "unauthorized",
        "token is wrong",
        "Error: unauthorized: token is wrong "
        "(check the token: `agent-relay onboard --token TOKEN`)",
    ),
    (
        403,
        "forbidden",
        "you are not a participant of 'build-42'",
        "Error: forbidden: you are not a participant of 'build-42'",
    ),
    (
        404,
        "not_found",
        "session 'build-42' does not exist",
        "Error: not_found: session 'build-42' does not exist",
    ),
    (
        409,
        "conflict",
        "session 'build-42' is closed",
        "Error: conflict: session 'build-42' is closed",
    ),
    (413, "too_large", "file is over 4 GiB", "Error: too_large: file is over 4 GiB"),
    (429, "rate_limited", "slow down", "Error: rate_limited: slow down"),
    (503, "unavailable", "shutting down", "Error: unavailable: shutting down"),
    (
        507,
        "quota_exceeded",
        "the store is full",
        "Error: quota_exceeded: the store is full (ask the relay's operator to run "
        "`agent-relay-server gc` or raise the quota)",
    ),
    (500, "internal", "internal error", "Error: internal: internal error"),
]


@pytest.mark.parametrize(("status", "code", "message", "printed"), CASES, ids=[c[1] for c in CASES])
def test_each_relay_error_prints_one_line_and_exits_with_its_code(
    configured, relay_http, run, status, code, message, printed
):
    relay_http.get(SESSION_URL, status=status, json={"error": {"code": code, "message": message}})
    result = run("session", "show", "build-42")
    assert result.stderr == printed + "\n"
    assert result.stdout == ""
    assert result.exit_code == EXIT_CODES[code]
    assert "Traceback" not in result.output


def test_every_error_code_has_its_own_exit_code():
    codes = [cls.code for cls in ERROR_CLASSES.values()]
    assert set(codes) <= set(EXIT_CODES)
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    assert 0 not in EXIT_CODES.values()


def test_a_proxy_error_page_prints_the_status(configured, relay_http, run):
    relay_http.get(SESSION_URL, status=502, body="<html>Bad Gateway</html>")
    result = run("session", "show", "build-42")
    assert result.stderr == (
        "Error: internal: the relay failed with HTTP 502 Bad Gateway: the details are in its log\n"
    )
    assert result.exit_code == 1


def test_a_refused_connection_says_to_start_the_relay(configured, relay_http, run):
    relay_http.get(SESSION_URL, body=requests.ConnectionError("[Errno 111] Connection refused"))
    result = run("session", "show", "build-42")
    assert result.stderr == (
        f"Error: unavailable: cannot reach the relay at {RELAY}: connection refused — "
        "is `agent-relay-server serve` running?\n"
    )
    assert result.exit_code == EXIT_CODES["unavailable"]


def test_a_connect_timeout_says_what_to_check(configured, relay_http, run):
    relay_http.get(SESSION_URL, body=requests.ConnectTimeout("connect timed out"))
    result = run("session", "show", "build-42")
    assert result.stderr == (
        f"Error: unavailable: cannot reach the relay at {RELAY}: connection timed out after 5 s"
        " — is the relay host up, the port open, and `agent-relay-server serve` running?\n"
    )


def test_a_read_timeout_says_the_relay_did_not_answer(configured, relay_http, run):
    relay_http.get(SESSION_URL, body=requests.ReadTimeout("read timed out"))
    result = run("session", "show", "build-42")
    assert result.stderr == (
        f"Error: unavailable: the relay at {RELAY} did not answer within 30 s: it may be "
        "overloaded or stuck; try again, or check its log\n"
    )


def test_a_machine_that_was_never_onboarded_is_told_to_onboard(data_paths, run):
    result = run("session", "list")
    assert result.stderr == (
        f"Error: not_found: agent-relay is not set up on this machine ({data_paths.config} "
        "does not exist): run `agent-relay onboard`\n"
    )
    assert result.exit_code == EXIT_CODES["not_found"]


def test_a_corrupt_config_names_file_and_line(data_paths, run, write):
    write(data_paths.config, 'relay_url = "http://127.0.0.1:7878"\nclient_id = "a"\ncolour = 1\n')
    result = run("session", "list")
    assert result.stderr.startswith(f"Error: invalid: {data_paths.config} line 3: unknown key")
    assert result.exit_code == EXIT_CODES["invalid"]


def test_a_bad_argument_is_invalid_before_any_request(configured, relay_http, run):
    result = run("session", "show", "Build 42")
    assert result.stderr.startswith("Error: invalid: session name 'Build 42' is not valid")
    assert not relay_http.calls


def test_a_file_system_error_is_one_line_too(configured, relay_http, run, tmp_path):
    data = b"some bytes"
    digest = hashlib.sha256(data).hexdigest()
    relay_http.get(f"{RELAY}/blobs/{digest}", body=data)
    result = run("fetch-file", digest, "-o", str(tmp_path / "missing" / "out"))
    assert result.stderr.startswith(f"Error: {tmp_path / 'missing'}")
    assert result.stderr.endswith(": No such file or directory\n")
    assert result.exit_code == 1


def test_a_reader_that_goes_away_is_not_an_error_message():
    group = RelayGroup()

    @group.command()
    def spew() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    result = CliRunner().invoke(group, ["spew"])
    assert result.exit_code == 1
    assert "Error" not in result.output


@pytest.mark.parametrize(
    "body",
    [
        {"body": "Misdirected Request"},
        {"json": {"error": {"code": "forbidden", "message": "host 'relay.lan' is not allowed"}}},
    ],
    ids=["plain-text", "json"],
)
def test_a_host_name_the_relay_does_not_answer_to_says_what_to_add_to_allowed_hosts(
    data_paths, relay_http, run, body
):
    run("onboard", "--relay-url", "http://relay.lan:7878", "--client-id", "me", "--no-check")
    relay_http.get("http://relay.lan:7878/api/v1/sessions/build-42", status=421, **body)
    result = run("session", "show", "build-42")
    assert result.exit_code == EXIT_CODES["forbidden"]
    assert result.stderr.startswith("Error: forbidden: the relay at http://relay.lan:7878 refused")
    assert "add 'relay.lan' to allowed_hosts" in result.stderr
    assert "RELAY_ALLOWED_HOSTS" in result.stderr
    assert "None" not in result.stderr

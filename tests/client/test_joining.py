"""Reading join codes, and ``onboard --join`` against answers given by ``responses``."""

import pytest

from relay_client import ClientConfig
from relay_client.joining import parse_join_code
from relay_core import InvalidInput

RELAY = "http://127.0.0.1:7878"


def test_a_code_with_an_address_names_the_relay():
    code = parse_join_code(" K7QM-4TZP-X2HD@relay.lan:7878 ")
    assert (code.secret, code.address, code.fingerprint) == (
        "K7QM-4TZP-X2HD",
        "relay.lan:7878",
        None,
    )
    assert code.relay_url == "http://relay.lan:7878"


def test_a_code_with_a_fingerprint_names_an_https_relay():
    code = parse_join_code("k7qm4tzpx2hd@[fe80::1]:7878/4mzq8k2vabcdefgh0123")
    assert code.relay_url == "https://[fe80::1]:7878"
    assert code.fingerprint == "4MZQ8K2VABCDEFGH0123"


def test_the_secret_alone_has_no_relay_url():
    assert parse_join_code("K7QM-4TZP-X2HD").relay_url is None


@pytest.mark.parametrize(
    "text", ["W7QX-5TZP", "W7QX-5TZP-X2HD@", "W7QX-5TZP-X2HD@a b:1", "W7QX-5TZP-X2HD@h:1/short"]
)
def test_a_garbled_code_is_refused_without_echoing_it(text):
    with pytest.raises(InvalidInput) as refused:
        parse_join_code(text)
    assert "W7QX" not in refused.value.message


def test_onboard_join_saves_the_token_it_gets_and_never_prints_it(
    data_paths, relay_http, run, payloads
):
    relay_http.post(
        f"{RELAY}/api/v1/join",
        json={"client_id": "desk", "token": "tok-from-code-123", "auth_mode": "per-client"},
    )
    relay_http.get(f"{RELAY}/healthz", json=payloads.health())
    relay_http.get(f"{RELAY}/api/v1/whoami", json=payloads.whoami("desk"))
    result = run("onboard", "--join", "K7QM-4TZP-X2HD@127.0.0.1:7878", "--client-id", "laptop")
    assert result.exit_code == 0, result.output
    assert ClientConfig.load(data_paths.config) == ClientConfig(RELAY, "desk", "tok-from-code-123")
    assert "tok-from-code-123" not in result.output
    assert relay_http.calls[0].request.body == b'{"code": "K7QM-4TZP-X2HD", "client_id": "laptop"}'


def test_onboard_join_with_a_wrong_code_says_so_and_saves_nothing(data_paths, relay_http, run):
    relay_http.post(
        f"{RELAY}/api/v1/join",
        status=401,
        json={"error": {"code": "unauthorized", "message": "this join code is not valid"}},
    )
    result = run("onboard", "--join", "K7QM-4TZP-X2HD@127.0.0.1:7878")
    assert result.exit_code != 0
    assert "this join code is not valid" in result.output
    assert not data_paths.config.exists()


def test_onboard_join_refuses_a_token_too(data_paths, run):
    result = run("onboard", "--join", "K7QM-4TZP-X2HD@127.0.0.1:7878", "--token", "x" * 20)
    assert result.exit_code == 2
    assert "not both" in result.output

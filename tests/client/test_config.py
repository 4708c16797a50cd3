import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay_client import ClientConfig, NotConfigured, StateFileError
from relay_client.config import normalise_relay_url
from relay_core import InvalidInput, validate_client_id


def test_a_saved_config_loads_back_the_same(tmp_path):
    config = ClientConfig("http://127.0.0.1:7878/", "alice-laptop", "tok-123")
    config.save(tmp_path / "config.toml")
    loaded = ClientConfig.load(tmp_path / "config.toml")
    assert loaded == config
    assert loaded.relay_url == "http://127.0.0.1:7878"


def test_the_config_file_is_private(tmp_path):
    ClientConfig("http://127.0.0.1:7878", "alice", "tok").save(tmp_path / "config.toml")
    assert stat.S_IMODE((tmp_path / "config.toml").stat().st_mode) == 0o600


def test_a_missing_config_says_to_onboard(tmp_path):
    with pytest.raises(NotConfigured) as caught:
        ClientConfig.load(tmp_path / "config.toml")
    assert caught.value.code == "not_found"
    assert "agent-relay onboard" in caught.value.message


def test_the_token_is_optional_for_an_open_relay(tmp_path, write):
    path = write(tmp_path / "config.toml", 'relay_url = "http://127.0.0.1:1"\nclient_id = "a"\n')
    assert ClientConfig.load(path).token == ""


def test_an_unknown_key_is_an_error_naming_the_key_and_line(tmp_path, write):
    text = 'relay_url = "http://127.0.0.1:1"\nclient_id = "a"\nrelai_url = "x"\n'
    path = write(tmp_path / "config.toml", text)
    with pytest.raises(StateFileError) as caught:
        ClientConfig.load(path)
    assert caught.value.code == "invalid"
    assert caught.value.line == 3
    assert "'relai_url'" in caught.value.message
    assert str(path) in caught.value.message


def test_a_missing_key_is_named(tmp_path, write):
    path = write(tmp_path / "config.toml", 'relay_url = "http://127.0.0.1:1"\n')
    with pytest.raises(StateFileError, match="client_id"):
        ClientConfig.load(path)


def test_a_bad_value_names_its_key_and_line(tmp_path, write):
    path = write(
        tmp_path / "config.toml", 'relay_url = "http://127.0.0.1:1"\nclient_id = "Bad Id"\n'
    )
    with pytest.raises(StateFileError) as caught:
        ClientConfig.load(path)
    assert caught.value.line == 2
    assert "client_id" in caught.value.message


def test_a_value_of_the_wrong_type_is_named(tmp_path, write):
    path = write(tmp_path / "config.toml", 'relay_url = "http://127.0.0.1:1"\nclient_id = 7\n')
    with pytest.raises(StateFileError, match="client_id must be a string"):
        ClientConfig.load(path)


def test_a_hand_edit_that_breaks_the_toml_names_the_line(tmp_path, write):
    path = write(tmp_path / "config.toml", 'relay_url = "http://127.0.0.1:1"\nclient_id = "a\n')
    with pytest.raises(StateFileError) as caught:
        ClientConfig.load(path)
    assert caught.value.line == 2


@pytest.mark.parametrize(
    "url",
    [
        "relay.lan:7878",
        "ftp://relay.lan",
        "http://",
        "http://h:99999",
        "http://h/?a=1",
        "http://u:p@h",
    ],
)
def test_a_relay_url_that_is_not_plain_http_is_refused(url):
    with pytest.raises(InvalidInput) as caught:
        normalise_relay_url(url)
    assert caught.value.code == "invalid"


def test_a_relay_url_may_have_a_path_prefix_and_loses_its_trailing_slash():
    assert normalise_relay_url(" https://relay.lan/agents/ ") == "https://relay.lan/agents"


@pytest.mark.parametrize("token", ["has space", "line\nbreak", "tab\t"])
def test_a_token_that_could_break_a_header_is_refused(token):
    with pytest.raises(InvalidInput):
        ClientConfig("http://127.0.0.1:1", "a", token)


def test_the_token_is_masked_when_shown():
    shown = ClientConfig("http://127.0.0.1:1", "a", "abcdefghijkl").shown()
    assert shown["token"] == "abcd****"
    assert "efgh" not in str(shown)
    assert ClientConfig("http://127.0.0.1:1", "a", "short").masked_token == "****"
    assert ClientConfig("http://127.0.0.1:1", "a").masked_token == "(none)"


@given(st.text(max_size=40), st.text(max_size=40))
def test_the_default_client_id_is_always_valid(user, host):
    from relay_client.cli.setup import default_client_id

    assert validate_client_id(default_client_id(user, host))


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://relay.lan:7878/mcp", "http://relay.lan:7878"),
        ("http://relay.lan:7878/mcp/", "http://relay.lan:7878"),
        ("https://relay.example/agents/mcp", "https://relay.example/agents"),
        ("http://mcp:7878", "http://mcp:7878"),
        ("http://relay.lan:7878/mcpx", "http://relay.lan:7878/mcpx"),
    ],
)
def test_a_relay_url_ending_in_the_mcp_endpoint_means_the_relay_below_it(given, base):
    assert normalise_relay_url(given) == base
    assert ClientConfig(given, "alice-laptop").relay_url == base

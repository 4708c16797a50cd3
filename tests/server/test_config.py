"""Configuration: file, environment and flags; every mistake names its key; no side effects."""

import pytest

from relay_core import InvalidInput
from relay_server.config import hash_token, load_config


def test_defaults_are_a_loopback_open_relay(tmp_path):
    config = load_config(environ={}, overrides={"data_dir": tmp_path})
    assert (config.host, config.port) == ("127.0.0.1", 7878)
    assert config.effective_auth_mode == "open"
    assert config.database_path == tmp_path / "relay.sqlite3"
    assert list(tmp_path.iterdir()) == []  # loading created nothing


def test_file_then_environment_then_flags(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text('port = 1111\nhost = "127.0.0.1"\nlog_level = "warning"\n')
    config = load_config(
        config_file=path, environ={"RELAY_PORT": "2222"}, overrides={"host": "localhost"}
    )
    assert (config.port, config.host, config.log_level) == (2222, "localhost", "warning")


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(InvalidInput) as caught:
        load_config(environ={"RELAY_PORT": "x"})
    assert caught.value.message.startswith("RELAY_PORT has value 'x'")


def test_an_unknown_environment_variable_is_an_error():
    with pytest.raises(InvalidInput, match="RELAY_PROT is not a relay setting"):
        load_config(environ={"RELAY_PROT": "1"})


def test_an_unknown_file_key_names_the_file_and_key(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text("prot = 1\n")
    with pytest.raises(InvalidInput, match=r"relay\.toml: prot is not a relay setting"):
        load_config(config_file=path, environ={})


def test_invalid_toml_says_where(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text("port = \n")
    with pytest.raises(InvalidInput, match="line 1"):
        load_config(config_file=path, environ={})


def test_a_token_selects_shared_mode_and_is_compared_by_hash():
    config = load_config(environ={"RELAY_TOKEN": "a-long-enough-token-123"})
    assert config.effective_auth_mode == "shared"
    assert config.shared_token_hash == hash_token("a-long-enough-token-123")


def test_short_tokens_are_refused():
    with pytest.raises(InvalidInput, match="RELAY_TOKEN"):
        load_config(environ={"RELAY_TOKEN": "short"})


def test_allowed_hosts_come_from_a_comma_list():
    config = load_config(environ={"RELAY_ALLOWED_HOSTS": "relay.lan, desk.local"})
    assert config.allowed_hosts == ["relay.lan", "desk.local"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"auth_mode": "shared"}, "needs token"),
        ({"auth_mode": "open", "token": "a-long-enough-token-123"}, "does not use"),
        ({"token": "a-long-enough-token-123", "token_sha256": "0" * 64}, "not both"),
    ],
)
def test_contradictory_auth_settings_are_refused(settings, message):
    with pytest.raises(InvalidInput, match=message):
        load_config(environ={}, overrides=settings)


def test_an_open_relay_off_loopback_is_refused_unless_insecure_open():
    with pytest.raises(InvalidInput, match="--insecure-open"):
        load_config(environ={}, overrides={"host": "0.0.0.0"}).refuse_insecure_listen()
    load_config(
        environ={}, overrides={"host": "0.0.0.0", "insecure_open": True}
    ).refuse_insecure_listen()
    load_config(
        environ={}, overrides={"host": "0.0.0.0", "token": "a-long-enough-token-123"}
    ).refuse_insecure_listen()


@pytest.mark.parametrize(
    ("variable", "secret"),
    [
        ("RELAY_TOKEN", "short-secret"),
        ("RELAY_TOKEN", ""),
        ("RELAY_TOKEN_SHA256", "not-a-digest-but-maybe-a-token-pasted-here"),
    ],
)
def test_a_bad_token_value_is_refused_without_being_shown(variable, secret):
    with pytest.raises(InvalidInput) as refused:
        load_config(environ={variable: secret})
    assert variable in refused.value.message
    assert "value not shown" in refused.value.message
    if secret:
        assert secret not in refused.value.message
    assert "''" not in refused.value.message


def test_a_bad_token_in_a_file_is_not_shown_either(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text('token = "tiny-secret"\n')
    with pytest.raises(InvalidInput) as refused:
        load_config(config_file=path, environ={})
    assert "tiny-secret" not in refused.value.message
    assert "token" in refused.value.message

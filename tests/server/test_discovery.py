"""What the relay announces over mDNS, and when it stays silent (no packet is sent here: the
multicast test runs between two network namespaces, tests/e2e/test_lan_tls.py)."""

from relay_server import __version__
from relay_server.config import ServerConfig
from relay_server.discovery import SERVICE_TYPE, announce, service_info


def test_the_record_names_version_auth_mode_tls_and_fingerprint(tmp_path):
    config = ServerConfig(host="10.0.0.5", data_dir=tmp_path, auth_mode="per-client", tls=True)
    info = service_info(config, 7878, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert info.type == SERVICE_TYPE
    assert info.name.endswith("." + SERVICE_TYPE)
    assert info.port == 7878
    assert info.parsed_addresses() == ["10.0.0.5"]
    assert info.properties == {
        b"version": __version__.encode(),
        b"auth": b"per-client",
        b"tls": b"1",
        b"fp": b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    }


def test_a_relay_on_loopback_or_told_not_to_is_not_announced(tmp_path):
    on_loopback = ServerConfig(host="127.0.0.1", data_dir=tmp_path, token="t" * 32)
    assert announce(on_loopback, 7878, None) is None
    told_not_to = ServerConfig(host="10.0.0.5", data_dir=tmp_path, token="t" * 32, announce=False)
    assert announce(told_not_to, 7878, None) is None

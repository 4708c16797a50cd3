"""A new user's first hour against the real relay: mistakes that must get a clear answer."""

from __future__ import annotations

import pytest
import requests

pytest.importorskip("relay_server.app", reason="the relay server is not installed")

from relay_client import RelayClient
from relay_client.api import MisdirectedHost


def test_a_host_name_outside_allowed_hosts_is_explained_not_internal(relay):
    # The relay listens on 127.0.0.1; a client that calls it relay.lan (a name it was not told
    # about) gets its DNS-rebinding guard's 421.
    session = requests.Session()
    session.headers["Host"] = f"relay.lan:{relay.port}"
    with (
        RelayClient(relay.url, "alice", relay.token, session=session) as client,
        pytest.raises(MisdirectedHost) as caught,
    ):
        client.health()
    assert caught.value.code == "forbidden"
    assert "allowed_hosts" in caught.value.message
    assert "unexpected answer" not in caught.value.message

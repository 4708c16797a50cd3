"""MCP sessions per client: a cap that closes the least recently used one, and idle expiry.

Relays built in this process and served on a loopback port (``serve``): real HTTP, raw MCP
sessions of the handshake era, as Claude Code holds them.
"""

from __future__ import annotations

import inspect
import time

import pytest
from fastmcp import FastMCP
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from relay_server.mcp.connections import sdk_session_transports
from tests.server.test_push_fanout import RawSession, Served, serve


def opened(served: Served, client_id: str) -> RawSession:
    return RawSession(served.mcp_url, served.headers(client_id))


def test_one_session_over_the_cap_closes_the_clients_least_recently_used_one(tmp_path):
    with serve(tmp_path, mcp_sessions_per_client=3) as relay:
        first, second, third = (opened(relay, "beta") for _ in range(3))
        assert first.whoami() == 200  # second is now the least recently used
        fourth = opened(relay, "beta")
        assert [s.whoami() for s in (first, second, third, fourth)] == [200, 404, 200, 200]
        assert relay.relay.sessions.sessions_of("beta") == [
            s.session_id for s in (first, third, fourth)
        ]


def test_a_client_that_opens_sessions_in_a_loop_only_ever_loses_its_own(tmp_path):
    with serve(tmp_path, mcp_sessions_per_client=2) as relay:
        alpha = opened(relay, "alpha")
        flood = [opened(relay, "beta") for _ in range(6)]
        assert alpha.whoami() == 200
        assert [s.whoami() for s in flood] == [404, 404, 404, 404, 200, 200]
        assert opened(relay, "gamma").whoami() == 200


def test_a_client_restarted_after_a_crash_gets_in_while_its_old_sessions_hold_streams(
    tmp_path,
):
    """A laptop that slept leaves GET streams the relay cannot tell from live ones."""
    with serve(tmp_path, mcp_sessions_per_client=2) as relay:
        old = [opened(relay, "beta") for _ in range(2)]
        streams = [session.open_stream() for session in old]
        try:
            restarted = opened(relay, "beta")
            assert restarted.whoami() == 200
            # The relay closed the oldest: its stream ends (one left open would time out here).
            for _ in streams[0].iter_lines():
                pass
            assert [s.whoami() for s in old] == [404, 200]
        finally:
            for stream in streams:
                stream.close()


def test_a_session_with_no_request_and_no_stream_is_closed_after_the_idle_time(tmp_path):
    with serve(tmp_path, mcp_session_idle_s=0.5) as relay:
        quiet, listening = opened(relay, "beta"), opened(relay, "beta")
        stream = listening.open_stream()
        try:
            time.sleep(1.5)  # the idle time running out is what is under test
            assert quiet.whoami() == 404
            assert listening.whoami() == 200
        finally:
            stream.close()


def test_the_relay_counts_the_sessions_it_serves_in_the_sdks_own_table(tmp_path):
    with serve(tmp_path) as served:
        session = opened(served, "beta")
        sessions = served.relay.sessions
        assert sessions.sessions_of("beta") == [session.session_id]
        assert session.session_id in sessions.sdk_transports()


def test_the_sdk_session_table_the_cap_reaches_into_is_still_there():
    """Fails on an MCP SDK upgrade that moves it (the relay then refuses to start, too)."""
    manager = StreamableHTTPSessionManager(app=FastMCP("probe")._mcp_server)
    assert sdk_session_transports(manager) == {}
    assert inspect.iscoroutinefunction(StreamableHTTPServerTransport.terminate)
    with pytest.raises(RuntimeError, match="per-client session cap"):
        sdk_session_transports(object())

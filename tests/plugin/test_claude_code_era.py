"""The real, pinned Claude Code negotiates the MCP era that carries channel push with the relay.

Claude Code 2.1.330 registers channel notifications only on a handshake-era connection (the
``initialize`` handshake, then the standalone GET stream); it asks for 2026-07-28 first. Its
``--debug-file`` log names what it negotiated, and the relay's access log shows the GET stream
(written when the stream closes) and the refused 2026-07-28 probe. Claude Code runs with HOME in
a temp dir and talks only to relays the tests start on free loopback ports.
"""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.node

SERVER = "plugin:agent-relay:agent-relay"


def negotiated(debug_file: Path) -> dict[str, object]:
    """What Claude Code logged as the relay connection's capabilities, era included."""
    marker = f'MCP server "{SERVER}": Connection established with capabilities: '
    [line] = [line for line in debug_file.read_text().splitlines() if marker in line]
    return json.loads(line.split(marker, 1)[1])


def list_servers(claude, workdir: Path, tmp_path: Path) -> Path:
    debug_file = tmp_path / "claude-debug.txt"
    listed = claude("--debug-file", str(debug_file), "mcp", "list", cwd=workdir)
    [line] = [line for line in listed.stdout.splitlines() if line.startswith(f"{SERVER}:")]
    assert "✔ Connected" in line, listed.stdout + listed.stderr
    return debug_file


def test_claude_code_negotiates_the_handshake_era_and_opens_the_get_stream(
    claude, install, relay, tmp_path
):
    workdir = install(relay.url, "era-probe", relay.token)
    debug_file = list_servers(claude, workdir, tmp_path)

    capabilities = negotiated(debug_file)
    assert capabilities["protocolEra"] == "legacy"
    assert capabilities["negotiatedProtocolVersion"] == "2025-11-25"
    # It asked for 2026-07-28 first and was refused, then held the stream push rides on.
    assert relay.access_line(r'via=mcp client=era-probe op="POST /mcp" .*outcome=400')
    assert relay.access_line(r'via=mcp client=era-probe op="GET /mcp" .*outcome=200')


def test_with_all_revisions_claude_code_goes_modern_and_opens_no_stream(
    claude, install, start_relay, tmp_path
):
    relay = start_relay(mcp_revisions="all")
    workdir = install(relay.url, "era-modern", relay.token)
    debug_file = list_servers(claude, workdir, tmp_path)

    capabilities = negotiated(debug_file)
    assert capabilities["protocolEra"] == "modern"
    assert capabilities["negotiatedProtocolVersion"] == "2026-07-28"
    # Modern requests are stateless POSTs; the 2026-07-28 era has no GET stream to open.
    assert 'op="GET /mcp"' not in relay.log()

"""A relay that answers /healthz has loaded what an agent's first MCP call needs.

The first tool call after a start used to stall for 0.4-1.5 s while FastMCP imported its
session-state store (py-key-value and beartype, ~440 modules). Now the relay loads it while it
starts, before it listens. Checked without timing: the relay process runs with Python's import
profile on (``PYTHONPROFILEIMPORTTIME``), which writes one line to its log per module as it is
imported, so whatever the first calls import shows up in the log after /healthz answered.
"""

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

pytestmark = [pytest.mark.anyio, pytest.mark.relay_process]

IMPORT_LINE = "import time:"


def imported(log: str) -> list[str]:
    """The modules an import-profiled process has imported so far, in order."""
    return [
        line.rsplit("|", 1)[1].strip()
        for line in log.splitlines()
        if line.startswith(IMPORT_LINE) and "[us]" not in line  # skip the header row
    ]


def mcp_client(relay, client_id: str) -> Client:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=30)


async def test_the_first_mcp_calls_after_start_import_nothing(
    start_relay, monkeypatch, session_name
):
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    relay = start_relay(process=True)
    at_health = imported(relay.log())
    assert "relay_server.app" in at_health  # the profile is on, and reaches the log

    # As Claude Code starts: the handshake, the tool list, then calls; and a second client.
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "beta") as beta:
        assert "send_message" in {tool.name for tool in await alpha.list_tools()}
        await alpha.call_tool("create_session", {"name": session_name, "participants": ["beta"]})
        sent = await alpha.call_tool("send_message", {"session": session_name, "text": "hi"})
        page = await beta.call_tool("read_messages", {"session": session_name})
        await beta.call_tool("list_sessions", {})
    assert sent.structured_content["id"] > 0
    assert "hi" in page.content[0].text

    assert imported(relay.log())[len(at_health) :] == []

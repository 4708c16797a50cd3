"""Roles through the MCP tools of a real relay: claim, send to @role, read, release."""

from __future__ import annotations

import uuid

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from relay_core.toon import decode_messages

pytestmark = pytest.mark.anyio


def client(relay, client_id: str) -> Client:
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=30)


async def test_a_role_through_the_tools(relay) -> None:
    tag = uuid.uuid4().hex[:8]
    session, alpha, bravo, carol = f"roles-{tag}", f"a-{tag}", f"b-{tag}", f"c-{tag}"
    async with client(relay, alpha) as a, client(relay, bravo) as b, client(relay, carol) as c:
        await a.call_tool("create_session", {"name": session, "participants": [bravo, carol]})
        held = await a.call_tool(
            "send_message", {"session": session, "text": "who reviews?", "to": ["@reviewer"]}
        )
        assert held.structured_content["held_for"] == ["reviewer"]
        claim = await b.call_tool("claim_role", {"session": session, "role": "reviewer"})
        assert claim.structured_content["held"] == [held.structured_content["id"]]
        page = await b.call_tool("read_messages", {"session": session})
        assert [m.to for m in decode_messages(page.content[0].text)] == [["@reviewer"]]
        other = await c.call_tool("read_messages", {"session": session})
        assert decode_messages(other.content[0].text) == []
        detail = await c.call_tool("get_session", {"name": session})
        assert detail.structured_content["roles"] == {"reviewer": bravo}
        refused = await c.call_tool(
            "release_role", {"session": session, "role": "reviewer"}, raise_on_error=False
        )
        assert refused.is_error
        assert refused.content[0].text.startswith("forbidden:")
        released = await b.call_tool("release_role", {"session": session, "role": "reviewer"})
        assert released.structured_content["holder"] is None

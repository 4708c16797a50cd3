"""The MCP file tools against a real relay: upload_file, download_file and blob_url."""

import base64
import hashlib
import os

import pytest
import requests
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

pytestmark = pytest.mark.anyio

FILE_TOOLS = {"upload_file": False, "download_file": True, "blob_url": True}


def mcp_client(relay, client_id):
    transport = StreamableHttpTransport(
        relay.mcp_url, headers={"X-Client-Id": client_id}, auth=relay.token
    )
    return Client(transport, timeout=30)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def error_code(result):
    assert result.is_error, result
    return result.content[0].text.split(":", 1)[0]


async def test_the_file_tools_are_listed_with_descriptions_and_annotations(relay):
    async with mcp_client(relay, "alpha") as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    for name, read_only in FILE_TOOLS.items():
        assert tools[name].description, name
        assert bool(tools[name].annotations.read_only_hint) == read_only, name


async def test_a_file_travels_between_agents_through_the_tools(relay, session_name):
    data = os.urandom(3000)
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "beta") as beta:
        uploaded = await alpha.call_tool(
            "upload_file", {"filename": "report.bin", "content_base64": b64(data)}
        )
        stored = uploaded.structured_content
        attachment = stored["attachment"]
        assert stored["sha256"] == attachment["sha256"] == hashlib.sha256(data).hexdigest()
        assert (stored["size"], stored["created"]) == (3000, True)
        assert attachment["filename"] == "report.bin"

        await alpha.call_tool("create_session", {"name": session_name, "participants": ["beta"]})
        await alpha.call_tool(
            "send_message",
            {"session": session_name, "text": "the report", "attachments": [attachment]},
        )
        downloaded = await beta.call_tool("download_file", {"sha256": attachment["sha256"]})
        assert base64.b64decode(downloaded.structured_content["content_base64"]) == data

        located = await beta.call_tool("blob_url", {"sha256": attachment["sha256"]})
        assert located.structured_content["size"] == 3000
        fetched = requests.get(
            located.structured_content["url"], headers=relay.headers("beta"), timeout=10
        )
        assert fetched.content == data


async def test_a_file_over_the_inline_limit_is_too_large_both_ways(start_relay):
    relay = start_relay(inline_file_bytes=4096)
    big = os.urandom(5000)
    async with mcp_client(relay, "alpha") as alpha:
        refused = await alpha.call_tool(
            "upload_file",
            {"filename": "big.bin", "content_base64": b64(big)},
            raise_on_error=False,
        )
        assert error_code(refused) == "too_large"
        digest = hashlib.sha256(big).hexdigest()
        stored = requests.put(
            f"{relay.url}/blobs/{digest}", data=big, headers=relay.headers("alpha"), timeout=10
        )
        assert stored.status_code == 201
        too_big = await alpha.call_tool("download_file", {"sha256": digest}, raise_on_error=False)
        assert error_code(too_big) == "too_large"
        located = await alpha.call_tool("blob_url", {"sha256": digest})
        assert located.structured_content["url"].endswith(f"/blobs/{digest}")


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"filename": "x.txt", "content_base64": "not base64!"}, "invalid"),
        ({"filename": "../x.txt", "content_base64": "aGk="}, "invalid"),
        ({"filename": "dir/x.txt", "content_base64": "aGk="}, "invalid"),
        ({"filename": "D:evil.bat", "content_base64": "aGk="}, "invalid"),
        ({"filename": "a.txt:stream", "content_base64": "aGk="}, "invalid"),
        ({"filename": "nul.txt", "content_base64": "aGk="}, "invalid"),
        ({"filename": "\u00e9" * 128, "content_base64": "aGk="}, "invalid"),  # 256 bytes
    ],
)
async def test_bad_uploads_are_invalid(relay, arguments, code):
    async with mcp_client(relay, "alpha") as alpha:
        result = await alpha.call_tool("upload_file", arguments, raise_on_error=False)
    assert error_code(result) == code


async def test_another_agents_unshared_file_is_not_found(relay):
    data = os.urandom(100)
    async with mcp_client(relay, "alpha") as alpha, mcp_client(relay, "carol") as carol:
        uploaded = await alpha.call_tool(
            "upload_file", {"filename": "mine.bin", "content_base64": b64(data)}
        )
        digest = uploaded.structured_content["sha256"]
        for tool in ("download_file", "blob_url"):
            result = await carol.call_tool(tool, {"sha256": digest}, raise_on_error=False)
            assert error_code(result) == "not_found"
        malformed = await carol.call_tool(
            "download_file", {"sha256": "../etc"}, raise_on_error=False
        )
        assert error_code(malformed) == "invalid"

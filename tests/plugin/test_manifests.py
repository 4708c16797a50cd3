"""plugin.json, marketplace.json, .mcp.json and the hand-written example agree with each other
and with the relay's wire contract."""

import json
import re

from skilldocs import ROOT

import relay_client
from relay_core import wire

PLUGIN = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
MARKETPLACE = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
MCP = json.loads((ROOT / ".mcp.json").read_text())
EXAMPLE = json.loads((ROOT / "client" / "mcp-config.example.json").read_text())
USER_CONFIG_REF = re.compile(r"\$\{user_config\.([A-Za-z0-9_]+)\}")


def test_the_plugin_is_called_agent_relay_and_has_full_metadata():
    assert PLUGIN["name"] == "agent-relay"
    assert PLUGIN["description"]
    assert PLUGIN["author"]["name"]
    assert PLUGIN["license"] == "MIT"
    assert PLUGIN["keywords"]


def test_the_plugin_version_is_the_client_package_version():
    assert PLUGIN["version"] == relay_client.__version__


def test_the_token_is_the_only_sensitive_option():
    options = PLUGIN["userConfig"]
    assert set(options) == {"relay_url", "client_id", "relay_token"}
    assert {key for key, option in options.items() if option.get("sensitive")} == {"relay_token"}


def test_the_default_relay_url_uses_the_relay_default_port():
    assert PLUGIN["userConfig"]["relay_url"]["default"].endswith(f":{wire.DEFAULT_PORT}")


def test_the_repo_is_its_own_marketplace_listing_the_plugin_at_its_root():
    assert MARKETPLACE["owner"]["name"]
    assert MARKETPLACE["description"]
    [entry] = MARKETPLACE["plugins"]
    assert entry["name"] == PLUGIN["name"]
    assert entry["source"] == "./"


def test_the_mcp_server_uses_every_option_and_only_declared_ones():
    referenced = set(USER_CONFIG_REF.findall(json.dumps(MCP)))
    assert referenced == set(PLUGIN["userConfig"])


def test_the_mcp_server_speaks_http_to_the_relay_mcp_path_with_identity_headers():
    server = MCP["mcpServers"]["agent-relay"]
    assert server["type"] == "http"
    assert server["url"] == "${user_config.relay_url}" + wire.MCP_PATH
    assert server["headers"] == {
        wire.AUTHORIZATION_HEADER: wire.BEARER_PREFIX + "${user_config.relay_token}",
        wire.CLIENT_ID_HEADER: "${user_config.client_id}",
    }


def test_the_relay_is_declared_as_the_plugin_channel():
    assert [channel["server"] for channel in PLUGIN["channels"]] == list(MCP["mcpServers"])


def test_the_hand_written_example_has_the_same_shape_as_the_plugin_registration():
    [(name, server)] = EXAMPLE["mcpServers"].items()
    plugin_server = MCP["mcpServers"]["agent-relay"]
    assert name == "agent-relay"
    assert server["type"] == plugin_server["type"]
    assert set(server["headers"]) == set(plugin_server["headers"])
    assert server["headers"][wire.AUTHORIZATION_HEADER].startswith(wire.BEARER_PREFIX)
    assert server["url"].endswith(f":{wire.DEFAULT_PORT}{wire.MCP_PATH}")

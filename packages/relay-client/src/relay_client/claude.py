"""Registering the relay with Claude Code, through the ``claude`` command line.

``agent-relay connect`` runs ``claude mcp add --transport http agent-relay URL/mcp --header ...
--scope user`` (after ``claude mcp remove`` when an older registration is in the way, since
``mcp add`` refuses a name that exists), or prints the same settings as the JSON that
``claude --mcp-config`` and ``.mcp.json`` files take. ``agent-relay doctor`` asks
``claude mcp get`` whether the relay is registered, by ``connect`` (``agent-relay``) or by the
installed plugin (``plugin:agent-relay:agent-relay``), and at the right URL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from relay_client.config import ClientConfig
from relay_core import NotFound, RelayError, wire

SERVER_NAME: Final = "agent-relay"
CLAUDE_COMMAND_ENV: Final = "AGENT_RELAY_CLAUDE"
"""Names the ``claude`` executable when it is not on PATH as ``claude``."""
SCOPES: Final = ("user", "project", "local")
SHARED_SCOPES: Final = frozenset({"project"})
"""Scopes whose config file is meant to be shared (``.mcp.json``, usually committed)."""
TOKEN_ENV: Final = "AGENT_RELAY_TOKEN"
TOKEN_REFERENCE: Final = "${" + TOKEN_ENV + "}"
"""What a shared config holds instead of the token; Claude Code expands it from its environment."""
COMMAND_TIMEOUT_S: Final = 60.0
PLUGIN_NAME: Final = "agent-relay"
PLUGIN_SERVER_NAME: Final = f"plugin:{PLUGIN_NAME}:{SERVER_NAME}"
"""How Claude Code names the MCP server of the installed agent-relay plugin."""
_URL_LINE_RE: Final = re.compile(r"^\s*URL:\s*(\S+)\s*$", re.MULTILINE)
_CLIENT_ID_LINE_RE: Final = re.compile(
    rf"^\s*{wire.CLIENT_ID_HEADER}:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE
)


def mcp_url(config: ClientConfig) -> str:
    """The relay's MCP endpoint."""
    return config.relay_url + wire.MCP_PATH


def mcp_headers(config: ClientConfig, *, token_from_env: bool = False) -> dict[str, str]:
    """The headers Claude Code must send: the bearer token (if any) and our client id.

    With ``token_from_env`` the token is the reference ``${AGENT_RELAY_TOKEN}``, which Claude
    Code expands from its environment when it reads the config, instead of the token itself.
    """
    headers = {}
    if config.token:
        token = TOKEN_REFERENCE if token_from_env else config.token
        headers[wire.AUTHORIZATION_HEADER] = wire.BEARER_PREFIX + token
    headers[wire.CLIENT_ID_HEADER] = config.client_id
    return headers


def mcp_config(config: ClientConfig) -> dict[str, Any]:
    """The JSON MCP config (``{"mcpServers": {"agent-relay": {...}}}``) for this machine."""
    return {
        "mcpServers": {
            SERVER_NAME: {
                "type": "http",
                "url": mcp_url(config),
                "headers": mcp_headers(config),
            }
        }
    }


def mcp_add_arguments(config: ClientConfig, scope: str = "user") -> list[str]:
    """The arguments of ``claude mcp add`` that register the relay.

    In the project scope the config lands in the project's ``.mcp.json``, which is usually
    committed: it gets a reference to the token (:data:`TOKEN_REFERENCE`), never the token.
    """
    arguments = ["mcp", "add", "--transport", "http", SERVER_NAME, mcp_url(config)]
    headers = mcp_headers(config, token_from_env=scope in SHARED_SCOPES)
    for name, value in headers.items():
        arguments += ["--header", f"{name}: {value}"]
    return [*arguments, "--scope", scope]


def find_claude() -> str | None:
    """The path of the ``claude`` command, or None when Claude Code is not installed."""
    return shutil.which(os.environ.get(CLAUDE_COMMAND_ENV) or "claude")


@dataclass(frozen=True)
class Entry:
    """One MCP server entry as ``claude mcp get NAME`` shows it."""

    name: str
    url: str | None
    """The URL Claude Code has for the relay, when it shows one."""
    client_id: str | None
    """The ``X-Client-Id`` header it sends, when it shows one."""


@dataclass(frozen=True)
class Registration:
    """How Claude Code reaches the relay: through ``agent-relay connect``, the plugin, or both."""

    claude: str | None
    """The claude executable, or None when it was not found."""
    connected: Entry | None = None
    """The entry ``agent-relay connect`` made (``agent-relay``)."""
    plugin: Entry | None = None
    """The entry of the installed and enabled agent-relay plugin
    (``plugin:agent-relay:agent-relay``)."""

    @property
    def registered(self) -> bool:
        """Whether Claude Code reaches the relay at all."""
        return self.connected is not None or self.plugin is not None

    @property
    def url(self) -> str | None:
        """The URL Claude Code uses (the plugin's when both are there)."""
        entry = self.plugin or self.connected
        return entry.url if entry else None


def registration() -> Registration:
    """Ask Claude Code how it reaches the relay (``claude mcp get`` for both entry names).

    Claude Code lists a plugin's MCP server as ``plugin:<plugin>:<server>``, not under the
    server's own name, so a plugin user's ``claude mcp get agent-relay`` fails although the
    relay is there.
    """
    claude = find_claude()
    if claude is None:
        return Registration(None)
    # Each `claude mcp get` connects to the server it shows (seconds): ask both at once.
    with ThreadPoolExecutor(max_workers=2) as pool:
        connected = pool.submit(_entry, claude, SERVER_NAME)
        plugin = pool.submit(_entry, claude, PLUGIN_SERVER_NAME)
        return Registration(claude, connected.result(), plugin.result())


def _entry(claude: str, name: str) -> Entry | None:
    result = _run(claude, ["mcp", "get", name])
    if result.returncode != 0:
        return None
    url = _URL_LINE_RE.search(result.stdout)
    client_id = _CLIENT_ID_LINE_RE.search(result.stdout)
    return Entry(name, url.group(1) if url else None, client_id.group(1) if client_id else None)


def register(config: ClientConfig, scope: str = "user") -> str:
    """Register the relay with Claude Code, replacing an earlier registration in ``scope``.

    Returns what ``claude mcp add`` printed, with the token hidden.

    Raises:
        NotFound: the ``claude`` command is not installed.
        RelayError: ``claude mcp add`` failed; the message has its output.
    """
    claude = find_claude()
    if claude is None:
        raise NotFound(
            "the `claude` command (Claude Code) was not found on PATH: install it, or run "
            "`agent-relay connect --print` and give the JSON to Claude Code yourself"
        )
    # `mcp add` refuses an existing name; a failed remove just means there was nothing to remove.
    _run(claude, ["mcp", "remove", SERVER_NAME, "--scope", scope])
    result = _run(claude, mcp_add_arguments(config, scope))
    output = _hide_token((result.stdout + result.stderr).strip(), config)
    if result.returncode != 0:
        raise RelayError(f"`claude mcp add` failed (exit {result.returncode}): {output}")
    return output


def _run(claude: str, arguments: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [claude, *arguments],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RelayError(f"running `{claude} {' '.join(arguments[:3])}` failed: {exc}") from None


def _hide_token(text: str, config: ClientConfig) -> str:
    return text.replace(config.token, config.masked_token) if config.token else text

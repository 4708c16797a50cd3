"""Making Claude Code trust an HTTPS relay's own CA: ``NODE_EXTRA_CA_CERTS`` in its settings.

Claude Code (Node) checks TLS certificates against its bundled CAs plus the PEM file named by
``NODE_EXTRA_CA_CERTS``. Its documentation on network configuration says every environment
variable there may also be set in ``settings.json`` (the ``env`` object), which it applies at
start, before any connection; so ``agent-relay connect`` sets it in the user settings
(``~/.claude/settings.json``, or ``$CLAUDE_CONFIG_DIR/settings.json``), and every Claude Code
session started afterwards reaches the relay. Node takes one such file: when the settings already
name another, nothing is changed and the person is told how to combine them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from relay_client.files import PRIVATE_MODE, write_atomic
from relay_core import Conflict, InvalidInput

CA_ENV: Final = "NODE_EXTRA_CA_CERTS"
CONFIG_DIR_ENV: Final = "CLAUDE_CONFIG_DIR"


def user_settings_path() -> Path:
    """Claude Code's user settings file."""
    base = os.environ.get(CONFIG_DIR_ENV, "").strip() or "~/.claude"
    return Path(base).expanduser() / "settings.json"


def trust_ca(ca_cert: str, path: Path | None = None) -> bool:
    """Set ``NODE_EXTRA_CA_CERTS`` to ``ca_cert`` in Claude Code's user settings; False when it
    was set so already. Every other setting is kept as it was.

    Raises:
        InvalidInput: the settings file is not a JSON object (nothing is changed).
        Conflict: it names another CA file already (nothing is changed).
    """
    path = path or user_settings_path()
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        settings = {}
    except ValueError as exc:
        raise InvalidInput(
            f"{path} is not valid JSON ({exc}); fix it, then run connect again"
        ) from None
    env = settings.get("env", {}) if isinstance(settings, dict) else None
    if not isinstance(env, dict):
        raise InvalidInput(f"{path} must be a JSON object whose 'env' is an object")
    current = env.get(CA_ENV)
    if current == ca_cert:
        return False
    if current:
        raise Conflict(
            f"{path} already sets {CA_ENV} to {current}, and Node reads only one such file: "
            f"append the relay's CA ({ca_cert}) to that file, and Claude Code trusts both"
        )
    settings["env"] = {**env, CA_ENV: ca_cert}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings, indent=2) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=PRIVATE_MODE)
    return True

"""Where the client keeps its state: the data root and the files below it.

The data root is ``$CLAUDE_USER_DATA/agent-relay`` when Claude Code (or a test) sets that
variable, else ``${XDG_DATA_HOME:-~/.local/share}/claude-plugins/agent-relay``. The XDG rule is
applied on every platform (through platformdirs' Unix rules) so the same path works for people,
skills and plugins alike; nothing is ever written inside the installed package.

``CLAUDE_PLUGIN_DATA`` (Claude Code's per-plugin folder) is ignored on purpose: Claude Code sets it
for the plugin's hooks and servers, not for a person's shell, so following it would split one
machine's config and cursors in two (docs/client.md, "Files").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from platformdirs.unix import Unix

CLAUDE_USER_DATA_ENV: Final = "CLAUDE_USER_DATA"
APP_DIR_NAME: Final = "agent-relay"
PLUGINS_DIR_NAME: Final = "claude-plugins"
CONFIG_FILE_NAME: Final = "config.toml"
PEERS_FILE_NAME: Final = "peers.toml"
CURSORS_DIR_NAME: Final = "cursors"


def data_root() -> Path:
    """The directory that holds config.toml, peers.toml and cursors/ (it may not exist yet)."""
    claude_data = os.environ.get(CLAUDE_USER_DATA_ENV, "").strip()
    if claude_data:
        return Path(claude_data).expanduser() / APP_DIR_NAME
    # Unix() reads XDG_DATA_HOME on every call and falls back to ~/.local/share.
    return Path(Unix(PLUGINS_DIR_NAME).user_data_dir).expanduser() / APP_DIR_NAME


@dataclass(frozen=True)
class DataPaths:
    """The files of one data root."""

    root: Path

    @classmethod
    def default(cls) -> DataPaths:
        """The paths below :func:`data_root`."""
        return cls(data_root())

    @property
    def config(self) -> Path:
        """``config.toml``: relay URL, client id and token (mode 0600)."""
        return self.root / CONFIG_FILE_NAME

    @property
    def peers(self) -> Path:
        """``peers.toml``: friendly names of other clients."""
        return self.root / PEERS_FILE_NAME

    @property
    def cursors(self) -> Path:
        """``cursors/``: one file per session holding the last message id seen."""
        return self.root / CURSORS_DIR_NAME

"""A hardened systemd unit for the relay, rendered as text (``agent-relay-server systemd-unit``).

``render_unit`` is pure: it reads and writes nothing, so the unit can be printed, tested and
diffed anywhere. ``interpreter_of`` is the one reader: it finds the Python an installed
``agent-relay-server`` script runs with, so the unit can refuse one the service cannot reach.

The relay needs only to listen on a TCP port above 1024, keep its state in one directory and
read its config file, so the unit takes away everything else: no capabilities, a read-only file
system except the state directory, no home directories, no new privileges.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Final

DEFAULT_EXECUTABLE: Final = "/usr/local/bin/agent-relay-server"
DEFAULT_DATA_DIR: Final = "/var/lib/agent-relay"
DEFAULT_CONFIG: Final = "/var/lib/agent-relay/config.toml"
DEFAULT_USER: Final = "agent-relay"
STATE_ROOT: Final = PurePosixPath("/var/lib")
HIDDEN_ROOTS: Final = (("home",), ("root",))
"""Top-level folders ProtectHome= hides from the service (and /root is private to root)."""
MANAGED_PYTHON_INSTALL: Final = (
    "sudo env UV_TOOL_DIR=/opt/agent-relay/tools UV_TOOL_BIN_DIR=/usr/local/bin "
    "UV_PYTHON_INSTALL_DIR=/opt/agent-relay/python UV_PYTHON_PREFERENCE=only-managed "
    "uv tool install --force /opt/agent-relay/src/packages/relay-server"
)
"""Reinstalls the relay with a Python that uv downloads outside any home directory (the
setup-relay-server skill's install line, word for word)."""
_SHEBANG_RE: Final = re.compile(rb"^#!\s*(\S+)")
_TRAMPOLINE_RE: Final = re.compile(rb"^'''exec' '([^']+)'", re.MULTILINE)
"""The second line of a script whose interpreter path is too long or odd for a shebang."""

# MemoryDenyWriteExecute= is left out on purpose: libffi (cffi, ctypes callbacks) may need
# writable-executable pages, and a relay that dies at its first such call is worse than one
# without that last layer.
HARDENING: Final = (
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "ProcSubset=pid",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RemoveIPC=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources",
    "UMask=0077",
)


def render_unit(
    *,
    executable: str = DEFAULT_EXECUTABLE,
    data_dir: str = DEFAULT_DATA_DIR,
    config: str = DEFAULT_CONFIG,
    user: str | None = DEFAULT_USER,
    interpreter: str | None = None,
) -> str:
    """Return the text of ``agent-relay.service``.

    ``executable`` is the absolute path of the installed ``agent-relay-server``; it must not
    live under /home or /root, which the unit hides, and nor may ``interpreter``, the Python it
    runs with (from :func:`interpreter_of`; None when unknown). ``user`` names the system
    account the relay runs as (``None``: a transient ``DynamicUser=`` account). A ``data_dir``
    under /var/lib becomes the unit's ``StateDirectory=`` (created and owned by systemd);
    anywhere else it is listed in ``ReadWritePaths=`` and must already exist.

    Raises ValueError when a path is not absolute or the executable or its interpreter is in a
    hidden home.
    """
    _check_paths(executable, data_dir, config, interpreter)
    data = PurePosixPath(data_dir)
    command = shlex.join([executable, "serve", "--data-dir", data_dir, "--config", config])
    identity = [f"User={user}", f"Group={user}"] if user else ["DynamicUser=yes"]
    if data.is_relative_to(STATE_ROOT) and data != STATE_ROOT:
        storage = [f"StateDirectory={data.relative_to(STATE_ROOT)}", "StateDirectoryMode=0750"]
    else:
        storage = [f"ReadWritePaths={data_dir}"]
    lines = [
        "# agent-relay.service, from `agent-relay-server systemd-unit`.",
        "[Unit]",
        "Description=agent-relay server: messages and files between Claude Code agents",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=exec",
        *identity,
        f"ExecStart={command}",
        "Restart=on-failure",
        "RestartSec=2s",
        "Environment=PYTHONUNBUFFERED=1",
        # Every waiting agent holds a connection open.
        "LimitNOFILE=65536",
        *storage,
        *HARDENING,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def _check_paths(executable: str, data_dir: str, config: str, interpreter: str | None) -> None:
    """ValueError unless the paths are absolute and the programs outside a hidden home."""
    for label, path in (("executable", executable), ("data_dir", data_dir), ("config", config)):
        if not PurePosixPath(path).is_absolute():
            raise ValueError(f"{label} must be an absolute path, got {path!r}")
    if _hidden(executable):
        raise ValueError(
            f"executable {executable!r} is under a home directory, which ProtectHome= hides; "
            "install agent-relay-server outside /home and /root (see docs/plugin.md)"
        )
    if interpreter is not None and _hidden(interpreter):
        raise ValueError(
            f"{executable} runs with the Python at {interpreter}, under a home directory: the "
            "service user cannot run it (Permission denied; ProtectHome= hides it too). "
            "Reinstall with a Python outside /home and /root, e.g. one uv manages: "
            f"{MANAGED_PYTHON_INSTALL}"
        )


def _hidden(path: str) -> bool:
    return PurePosixPath(path).parts[1:2] in HIDDEN_ROOTS


def interpreter_of(executable: str) -> str | None:
    """The real path of the Python that the script ``executable`` runs with, links resolved.

    A uv or pip install's script names its environment's ``python``, a link to the interpreter
    it was installed with (a pyenv one under /root, say). None when ``executable`` cannot be
    read or is not such a script.
    """
    try:
        with Path(executable).open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    shebang = _SHEBANG_RE.match(head)
    if shebang is None:
        return None
    trampoline = _TRAMPOLINE_RE.search(head)
    program = (trampoline or shebang).group(1).decode(errors="replace")
    if not program.startswith("/") or program.rsplit("/", 1)[-1] in ("sh", "env"):
        return None
    return os.path.realpath(program)

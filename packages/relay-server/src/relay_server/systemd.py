"""A hardened systemd unit for the relay, rendered as text (``agent-relay-server systemd-unit``).

Pure: nothing here reads or writes the system, so the unit can be printed, tested and diffed
anywhere. The relay needs only to listen on a TCP port above 1024, keep its state in one
directory and read its config file, so the unit takes away everything else: no capabilities,
a read-only file system except the state directory, no home directories, no new privileges.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Final

DEFAULT_EXECUTABLE: Final = "/usr/local/bin/agent-relay-server"
DEFAULT_DATA_DIR: Final = "/var/lib/agent-relay"
DEFAULT_CONFIG: Final = "/var/lib/agent-relay/config.toml"
DEFAULT_USER: Final = "agent-relay"
STATE_ROOT: Final = PurePosixPath("/var/lib")

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
) -> str:
    """Return the text of ``agent-relay.service``.

    ``executable`` is the absolute path of the installed ``agent-relay-server``; it must not
    live under /home or /root, which the unit hides. ``user`` names the system account the
    relay runs as (``None``: a transient ``DynamicUser=`` account). A ``data_dir`` under
    /var/lib becomes the unit's ``StateDirectory=`` (created and owned by systemd); anywhere
    else it is listed in ``ReadWritePaths=`` and must already exist.

    Raises ValueError when a path is not absolute or the executable is in a hidden home.
    """
    for label, path in (("executable", executable), ("data_dir", data_dir), ("config", config)):
        if not PurePosixPath(path).is_absolute():
            raise ValueError(f"{label} must be an absolute path, got {path!r}")
    if PurePosixPath(executable).parts[1:2] in (("home",), ("root",)):
        raise ValueError(
            f"executable {executable!r} is under a home directory, which ProtectHome= hides; "
            "install agent-relay-server outside /home and /root (see docs/plugin.md)"
        )
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

"""``agent-relay-server``: run the relay and administer its data.

``main`` is the click group (``group``); each module adds one group of commands: ``serving``
(serve, systemd-unit), ``init``, ``clients`` (add-client, remove-client) and ``maintenance``
(gc, check, backup, restore).
"""

from __future__ import annotations

from relay_server.cli import clients, init, maintenance, serving
from relay_server.cli.group import main

for _command in (
    serving.serve,
    init.init,
    clients.add_client,
    clients.remove_client,
    maintenance.gc,
    maintenance.check,
    maintenance.backup,
    maintenance.restore,
    serving.systemd_unit,
):
    main.add_command(_command)

__all__ = ["main"]

"""``agent-relay-server``: run the relay and administer its data.

``main`` is the click group (``group``); each module adds one group of commands: ``serving``
(serve, systemd-unit), ``init``, ``clients`` (clients, add-client, revoke alias remove-client),
``joining`` (join-code) and ``maintenance`` (gc, check, backup, restore, migrate).
"""

from __future__ import annotations

from relay_server.cli import clients, init, joining, maintenance, serving
from relay_server.cli.group import main

for _command in (
    serving.serve,
    init.init,
    clients.list_clients,
    clients.add_client,
    clients.revoke,
    joining.join_code,
    maintenance.gc,
    maintenance.check,
    maintenance.backup,
    maintenance.restore,
    maintenance.migrate,
    serving.systemd_unit,
):
    main.add_command(_command)
main.add_command(clients.revoke, "remove-client")  # its name before `revoke`; scripts use it

__all__ = ["main"]

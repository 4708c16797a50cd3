"""``python -m relay_server`` runs the ``agent-relay-server`` command."""

from relay_server.cli import main

main()

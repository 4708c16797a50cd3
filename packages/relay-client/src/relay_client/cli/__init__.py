"""The ``agent-relay`` command line: one click group, one module per group of commands.

The root group builds one :class:`~relay_client.cli.app.App` (config, roster, cursors and relay
client, each made on first use) and every command receives it through ``pass_app``. Errors are
turned into one line on stderr and an exit code in one place, :class:`RelayGroup`.
"""

from __future__ import annotations

import click

from relay_client.cli.app import App, RelayGroup
from relay_client.cli.files import fetch_file, send_file
from relay_client.cli.health import doctor, status
from relay_client.cli.messages import send, tail
from relay_client.cli.peers import peers
from relay_client.cli.sessions import session
from relay_client.cli.setup import config_group, connect, onboard


@click.group(cls=RelayGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="relay-client", prog_name="agent-relay")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Messages and files between Claude Code agents on one LAN, through an agent-relay.

    Start with `agent-relay onboard`, then `agent-relay connect`.
    """
    app = App()
    ctx.obj = app
    ctx.call_on_close(app.close)


for command in (
    onboard,
    connect,
    config_group,
    peers,
    session,
    send,
    send_file,
    fetch_file,
    tail,
    status,
    doctor,
):
    cli.add_command(command)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="agent-relay")


__all__ = ["cli", "main"]

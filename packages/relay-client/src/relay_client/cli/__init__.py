"""The ``agent-relay`` command line: one click group, one module per group of commands.

The root group builds one :class:`~relay_client.cli.app.App` (config, roster, cursors and relay
client, each made on first use) and every command receives it through ``pass_app``. Errors are
turned into one line on stderr and an exit code in one place, :class:`RelayGroup`. A command's
module is imported only when that command runs (:mod:`relay_client.cli.lazy`).
"""

from __future__ import annotations

import click

from relay_client import __version__
from relay_client.cli.app import App, RelayGroup
from relay_client.cli.lazy import LazyCommands

_COMMANDS = LazyCommands(
    {
        "onboard": "relay_client.cli.setup:onboard",
        "connect": "relay_client.cli.connect:connect",
        "config": "relay_client.cli.config_view:config_group",
        "peers": "relay_client.cli.peers:peers",
        "session": "relay_client.cli.sessions:session",
        "send": "relay_client.cli.messages:send",
        "send-file": "relay_client.cli.files:send_file",
        "fetch-file": "relay_client.cli.files:fetch_file",
        "tail": "relay_client.cli.messages:tail",
        "message": "relay_client.cli.delivery:message",
        "search": "relay_client.cli.search:search",
        "role": "relay_client.cli.roles:role",
        "task": "relay_client.cli.tasks:task",
        "approvers": "relay_client.cli.approvals:approvers",
        "push-from": "relay_client.cli.approvals:push_from",
        "approvals": "relay_client.cli.approvals:approvals",
        "answer-approval": "relay_client.cli.approvals:answer_approval",
        "status": "relay_client.cli.health:status",
        "doctor": "relay_client.cli.health:doctor",
    }
)
"""Every subcommand, by name: where it is defined."""


@click.group(
    cls=RelayGroup, commands=_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="agent-relay")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Messages and files between Claude Code agents on one LAN, through an agent-relay.

    Start with `agent-relay onboard`, then `agent-relay connect`.
    """
    app = App()
    ctx.obj = app
    ctx.call_on_close(app.close)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="agent-relay")


__all__ = ["cli", "main"]

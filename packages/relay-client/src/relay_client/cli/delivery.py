"""``agent-relay message status ID``: what became of a message, for each recipient."""

from __future__ import annotations

import click

from relay_client.cli.app import App, echo_json, echo_table, json_option, pass_app
from relay_client.cli.render import format_time, visible


@click.group()
def message() -> None:
    """One message by id (`agent-relay status` is the relay's own status)."""


@message.command("status")
@click.argument("message_id", type=click.IntRange(min=1), metavar="MESSAGE_ID")
@json_option
@pass_app
def message_status(app: App, message_id: int, as_json: bool) -> None:
    """Who got MESSAGE_ID and who read it: stored, delivered or read, with times.

    The sender sees every recipient; a recipient sees only itself.
    """
    status = app.client.message_status(message_id)
    if as_json:
        echo_json(status.model_dump(mode="json"))
        return
    click.echo(
        f"#{status.id} in {status.session} from {visible(app.who(status.sender))},"
        f" {format_time(status.created_at)}"
    )
    if status.reply_by is not None:
        click.echo(f"Reply by {format_time(status.reply_by)}")
    if status.expires_at is not None:
        click.echo(f"Expires {format_time(status.expires_at)}")
    rows = [
        [
            visible(app.who(r.client_id)),
            r.state,
            format_time(r.delivered_at),
            format_time(r.read_at),
        ]
        for r in status.recipients
    ]
    if rows:
        echo_table(["RECIPIENT", "STATE", "DELIVERED", "READ"], rows)
    else:
        click.echo("No recipients.")

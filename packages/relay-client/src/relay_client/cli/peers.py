"""``agent-relay peers list|add|remove``: the roster of friendly names for other clients."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import click

from relay_client.cli.app import App, echo_json, echo_table, json_option, pass_app
from relay_client.cli.render import format_ago


@click.group()
def peers() -> None:
    """Friendly names for other clients, usable wherever a client id is."""


@peers.command("list")
@click.option("--relay", "from_relay", is_flag=True, help="Also ask the relay who it has seen.")
@json_option
@pass_app
def peers_list(app: App, from_relay: bool, as_json: bool) -> None:
    """List the roster (and, with --relay, the clients the relay knows, with last-seen times)."""
    rows = [PeerRow(p.name, p.client_id, p.notes) for p in app.roster]
    if from_relay:
        seen = {peer.client_id: peer for peer in app.client.peers()}
        listed = {row.client_id for row in rows}
        rows += [PeerRow(None, client_id) for client_id in seen if client_id not in listed]
        for row in rows:
            peer = seen.get(row.client_id)
            if peer is not None:
                row.last_seen = peer.last_seen
                row.presence = peer.presence
                row.shared_sessions = list(peer.shared_sessions)
    if as_json:
        echo_json({"peers": [asdict(row) for row in rows]})
    elif not rows:
        click.echo("No peers yet: add one with `agent-relay peers add NAME CLIENT_ID`.")
    elif from_relay:
        echo_table(
            ["NAME", "CLIENT ID", "PRESENCE", "LAST SEEN", "SHARED SESSIONS"],
            [
                [
                    row.name or "-",
                    row.client_id,
                    row.presence or "-",
                    format_ago(row.last_seen),
                    " ".join(row.shared_sessions) or "-",
                ]
                for row in rows
            ],
        )
    else:
        echo_table(
            ["NAME", "CLIENT ID", "NOTES"], [[r.name or "-", r.client_id, r.notes] for r in rows]
        )


@dataclass
class PeerRow:
    """One line of ``peers list``."""

    name: str | None
    client_id: str
    notes: str = ""
    last_seen: datetime | None = None
    presence: str | None = None
    """live (an open MCP stream), online (seen in the last minute) or offline; with --relay."""
    shared_sessions: list[str] = field(default_factory=list)


@peers.command("add")
@click.argument("name")
@click.argument("client_id")
@click.option("--notes", default="", help="A note for people, e.g. what the peer does.")
@click.option("--replace", is_flag=True, help="Replace a peer of the same name.")
@json_option
@pass_app
def peers_add(
    app: App, name: str, client_id: str, notes: str, replace: bool, as_json: bool
) -> None:
    """Add NAME as a friendly name for CLIENT_ID."""
    app.roster.add(name, client_id, notes, replace=replace)
    app.roster.save()
    if as_json:
        echo_json(asdict(PeerRow(name, client_id, notes)))
    else:
        click.echo(f"Added peer {name} ({client_id}).")


@peers.command("remove")
@click.argument("name")
@json_option
@pass_app
def peers_remove(app: App, name: str, as_json: bool) -> None:
    """Remove the peer called NAME from the roster."""
    peer = app.roster.remove(name)
    app.roster.save()
    if as_json:
        echo_json(asdict(PeerRow(peer.name, peer.client_id, peer.notes)))
    else:
        click.echo(f"Removed peer {peer.name} ({peer.client_id}).")

"""``agent-relay session create|list|show|close|invite|leave``."""

from __future__ import annotations

import click

from relay_client.cli.app import App, echo_json, echo_table, json_option, pass_app
from relay_client.cli.render import format_time, session_text
from relay_core import SessionDetail


@click.group()
def session() -> None:
    """Named sessions: who is in them and what they are for."""


def _show(app: App, detail: SessionDetail, as_json: bool, done: str = "") -> None:
    if as_json:
        echo_json(detail)
        return
    if done:
        click.echo(done)
    click.echo(session_text(detail, app))


@session.command("create")
@click.argument("name")
@click.option(
    "--with",
    "participants",
    multiple=True,
    metavar="PEER",
    help="A participant besides you (peer name or client id); repeatable.",
)
@click.option("--description", default="", help="What the session is for.")
@json_option
@pass_app
def session_create(
    app: App, name: str, participants: tuple[str, ...], description: str, as_json: bool
) -> None:
    """Create session NAME, with you and the given peers in it.

    Warns about a participant that has never connected to the relay (often a typo).
    """
    added = app.resolve(participants)
    detail = app.client.create_session(name, added, description)
    _show(app, detail, as_json, f"Created session {detail.name}.")
    _warn_never_connected(app, detail, added)


@session.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Include closed sessions.")
@json_option
@pass_app
def session_list(app: App, include_closed: bool, as_json: bool) -> None:
    """List your sessions with their unread counts."""
    sessions = app.client.list_sessions(include_closed=include_closed)
    if as_json:
        echo_json({"sessions": sessions})
    elif not sessions:
        click.echo("No sessions: create one with `agent-relay session create NAME --with PEER`.")
    else:
        echo_table(
            ["SESSION", "UNREAD", "LAST", "MEMBERS", "CREATED BY", "STATE", "DESCRIPTION"],
            [
                [
                    s.name,
                    str(s.unread),
                    f"#{s.last_message_id}" if s.last_message_id is not None else "-",
                    str(s.participants),
                    app.who(s.created_by),
                    f"closed {format_time(s.closed_at)}" if s.closed_at else "open",
                    s.description,
                ]
                for s in sessions
            ],
        )


@session.command("show")
@click.argument("name")
@json_option
@pass_app
def session_show(app: App, name: str, as_json: bool) -> None:
    """Show session NAME with its participants and read positions."""
    _show(app, app.client.get_session(name), as_json)


@session.command("close")
@click.argument("name")
@json_option
@pass_app
def session_close(app: App, name: str, as_json: bool) -> None:
    """Close session NAME (only its creator may); nobody can post to it afterwards."""
    detail = app.client.close_session(name)
    _show(app, detail, as_json, f"Closed session {detail.name}.")


@session.command("invite")
@click.argument("name")
@click.argument("peers", nargs=-1, required=True, metavar="PEER...")
@json_option
@pass_app
def session_invite(app: App, name: str, peers: tuple[str, ...], as_json: bool) -> None:
    """Add peers (names or client ids) to session NAME.

    Warns about a peer that has never connected to the relay (often a typo).
    """
    added = app.resolve(peers)
    detail = app.client.invite(name, added)
    _show(app, detail, as_json, f"Invited {', '.join(peers)} to {detail.name}.")
    _warn_never_connected(app, detail, added)


def _warn_never_connected(app: App, detail: SessionDetail, added: list[str]) -> None:
    """Say which of the ``added`` participants the relay has never seen.

    A relay in shared-token or open mode takes any well-formed client id, so a misspelt one
    becomes a participant nobody will ever be; the relay's last-seen time is how to notice.
    """
    never = [
        p.client_id for p in detail.participants if p.client_id in added and p.last_seen is None
    ]
    if not never:
        return
    names = ", ".join(never)
    click.echo(
        f"Warning: {names} {'has' if len(never) == 1 else 'have'} never connected to the relay "
        "(a typo?): `agent-relay peers list --relay` lists the clients it has seen.",
        err=True,
    )


@session.command("leave")
@click.argument("name")
@json_option
@pass_app
def session_leave(app: App, name: str, as_json: bool) -> None:
    """Leave session NAME; your cursor for it is removed."""
    app.client.leave(name)
    app.cursors.remove(name)
    if as_json:
        echo_json({"session": name, "left": True})
    else:
        click.echo(f"Left session {name}.")

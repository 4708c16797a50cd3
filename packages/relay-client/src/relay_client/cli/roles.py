"""``agent-relay role claim|release SESSION ROLE``: hold a role, so ``@ROLE`` reaches you."""

from __future__ import annotations

import click

from relay_client.cli.app import App, echo_json, json_option, pass_app


@click.group()
def role() -> None:
    """Roles of a session: a message sent to @ROLE reaches whoever holds ROLE when it is read."""


@role.command("claim")
@click.argument("session")
@click.argument("name", metavar="ROLE")
@json_option
@pass_app
def role_claim(app: App, session: str, name: str, as_json: bool) -> None:
    """Hold ROLE in SESSION (taking it from whoever held it)."""
    claim = app.client.claim_role(session, name)
    if as_json:
        echo_json(claim.model_dump(mode="json"))
        return
    taken = f", taken from {app.who(claim.previous)}" if claim.previous else ""
    click.echo(f"You hold @{claim.role} in {claim.session}{taken}.")
    if claim.held:
        ids = ", ".join(f"#{i}" for i in claim.held)
        click.echo(f"Sent to @{claim.role} while nobody held it: {ids}")


@role.command("release")
@click.argument("session")
@click.argument("name", metavar="ROLE")
@json_option
@pass_app
def role_release(app: App, session: str, name: str, as_json: bool) -> None:
    """Give up ROLE in SESSION."""
    claim = app.client.release_role(session, name)
    if as_json:
        echo_json(claim.model_dump(mode="json"))
    else:
        click.echo(f"You no longer hold @{claim.role} in {claim.session}.")

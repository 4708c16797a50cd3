"""Approvals from the command line: who approves our Claude Code's permission prompts
(``approvers``), whose messages are pushed into our live sessions (``push-from``), the prompts
themselves (``approvals``) and answering one (``answer-approval``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from relay_client.cli.app import App, echo_json, echo_table, json_option, pass_app
from relay_client.cli.render import format_time, visible

if TYPE_CHECKING:
    from relay_core.approvals import Approval, ClientSettings

FOLLOW_WAIT_S = 30.0
"""How long one round of ``approvals --follow`` waits on the relay."""


def _show(app: App, settings: ClientSettings, as_json: bool) -> None:
    if as_json:
        echo_json(settings.model_dump(mode="json"))
        return
    approvers = ", ".join(app.who(c) for c in settings.approvers) or "nobody (prompts stay local)"
    click.echo(f"Approvers: {approvers}")
    if settings.push_from is None:
        click.echo("Push from: anyone who shares a session with you")
    else:
        click.echo(f"Push from: {', '.join(app.who(c) for c in settings.push_from) or 'nobody'}")


def _update(app: App, changes: dict[str, Any], as_json: bool) -> None:
    _show(app, app.client.update_settings(changes), as_json)


@click.group()
def approvers() -> None:
    """Who may answer your Claude Code's permission prompts from another machine."""


@approvers.command("set")
@click.argument("names", nargs=-1, required=True)
@json_option
@pass_app
def approvers_set(app: App, names: tuple[str, ...], as_json: bool) -> None:
    """Make NAMES (peer names or client ids) your approvers, replacing any."""
    _update(app, {"approvers": [app.roster.resolve(n) for n in names]}, as_json)


@approvers.command("show")
@json_option
@pass_app
def approvers_show(app: App, as_json: bool) -> None:
    """Show your approvers and whose messages are pushed to you."""
    _show(app, app.client.settings(), as_json)


@approvers.command("clear")
@json_option
@pass_app
def approvers_clear(app: App, as_json: bool) -> None:
    """Have no approvers: prompts are answered at the terminal only."""
    _update(app, {"approvers": []}, as_json)


@click.group("push-from")
def push_from() -> None:
    """Whose messages are pushed live into your Claude Code sessions (the rest stays readable)."""


@push_from.command("set")
@click.argument("names", nargs=-1, required=True)
@json_option
@pass_app
def push_from_set(app: App, names: tuple[str, ...], as_json: bool) -> None:
    """Push only messages from NAMES (peer names or client ids)."""
    _update(app, {"push_from": [app.roster.resolve(n) for n in names]}, as_json)


@push_from.command("show")
@json_option
@pass_app
def push_from_show(app: App, as_json: bool) -> None:
    """Show whose messages are pushed to you, and your approvers."""
    _show(app, app.client.settings(), as_json)


@push_from.command("clear")
@json_option
@pass_app
def push_from_clear(app: App, as_json: bool) -> None:
    """Push messages from anyone who shares a session with you (the default)."""
    _update(app, {"push_from": None}, as_json)


def _rows(app: App, found: list[Approval]) -> list[list[str]]:
    return [
        [
            str(a.id),
            app.who(a.requester),
            visible(a.tool),
            visible(a.description)[:60],
            a.state,
            app.who(a.decided_by) if a.decided_by else format_time(a.expires_at),
        ]
        for a in found
    ]


HEADERS = ["ID", "FROM", "TOOL", "DESCRIPTION", "STATE", "DECIDED BY / EXPIRES"]


@click.command()
@click.option(
    "--history", is_flag=True, help="All approvals (answered, expired), not just pending."
)
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new ones until ^C.")
@json_option
@pass_app
def approvals(app: App, history: bool, follow: bool, as_json: bool) -> None:
    """Permission prompts you may answer or asked for: pending ones, oldest first.

    With --json, one JSON object per line under --follow, else one document.
    """
    found = app.client.approvals(history=history).approvals
    if not follow:
        if as_json:
            echo_json({"approvals": [a.model_dump(mode="json") for a in found]})
        elif found:
            echo_table(HEADERS, _rows(app, found))
        else:
            click.echo("No pending approvals." if not history else "No approvals yet.")
        return
    after = 0
    try:
        while True:
            for approval in found:
                after = max(after, approval.id)
                if as_json:
                    echo_json(approval.model_dump(mode="json"), compact=True)
                else:
                    click.echo("  ".join(_rows(app, [approval])[0]))
            found = app.client.approvals(
                history=history, after_id=after, wait_s=FOLLOW_WAIT_S
            ).approvals
    except KeyboardInterrupt:
        pass  # ^C is how --follow ends


@click.command("answer-approval")
@click.argument("approval_id", type=int)
@click.argument("behavior", type=click.Choice(["allow", "deny"]))
@click.option("--note", default="", help="Why; the requester sees it.")
@json_option
@pass_app
def answer_approval(app: App, approval_id: int, behavior: str, note: str, as_json: bool) -> None:
    """Allow or deny the pending permission prompt APPROVAL_ID (once; the first answer wins)."""
    approval = app.client.answer_approval(approval_id, behavior, note)
    if as_json:
        echo_json(approval.model_dump(mode="json"))
    else:
        click.echo(
            f"{approval.state.capitalize()} approval {approval.id}: {visible(approval.tool)}"
        )

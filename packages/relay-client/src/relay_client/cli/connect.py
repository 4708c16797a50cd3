"""``agent-relay connect``: register the relay with Claude Code, or print its MCP config."""

from __future__ import annotations

import click

from relay_client import claude, claude_trust
from relay_client.cli.app import App, echo_json, json_option, pass_app


@click.command()
@click.option("--print", "print_only", is_flag=True, help="Print the JSON MCP config instead.")
@click.option(
    "--scope",
    type=click.Choice(claude.SCOPES),
    default="user",
    show_default=True,
    help="Claude Code settings scope to register in.",
)
@json_option
@pass_app
def connect(app: App, print_only: bool, scope: str, as_json: bool) -> None:
    """Register the relay with Claude Code (`claude mcp add`), or print its MCP config.

    --print prints the JSON MCP config (with the token) whether or not --json is given.
    """
    if print_only:
        echo_json(claude.mcp_config(app.config))
        if app.config.ca_cert:
            click.echo(
                f"The relay uses its own CA: start Claude Code with "
                f"{claude_trust.CA_ENV}={app.config.ca_cert} (or run connect without --print).",
                err=True,
            )
        return
    claude.register(app.config, scope)
    if app.config.ca_cert and claude_trust.trust_ca(app.config.ca_cert):
        click.echo(
            f"Claude Code now trusts the relay's CA: {claude_trust.CA_ENV} is set in "
            f"{claude_trust.user_settings_path()}.",
            err=True,
        )
    if as_json:
        echo_json(
            {"registered": claude.SERVER_NAME, "url": claude.mcp_url(app.config), "scope": scope}
        )
    else:
        click.echo(
            f"Registered {claude.SERVER_NAME} ({claude.mcp_url(app.config)}) with Claude Code "
            f"in the {scope} scope; restart running Claude Code sessions to pick it up."
        )
    if scope in claude.SHARED_SCOPES and app.config.token:
        click.echo(
            f"Warning: the {scope} scope writes the project's .mcp.json, which is usually "
            f"committed, so it holds {claude.TOKEN_REFERENCE} instead of the token. Claude Code "
            f"fills it in from its environment: start it with {claude.TOKEN_ENV} set to your "
            f"token (the one in {app.paths.config}), or the relay refuses it. The file names "
            f"your client id ({app.config.client_id}); each machine should use its own.",
            err=True,
        )

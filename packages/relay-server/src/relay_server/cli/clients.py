"""Per-client tokens: ``add-client`` and ``remove-client``."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from relay_core import validate_client_id
from relay_server.cli.group import config_options, load
from relay_server.cli.init import relay_url
from relay_server.config import hash_token


@click.command("add-client")
@config_options
@click.argument("client_id")
def add_client(config_file: Path | None, data_dir: Path | None, client_id: str) -> None:
    """Create a per-client token for CLIENT_ID (printed once, stored hashed).

    When CLIENT_ID already has a token, the new one replaces it: the old token stops working
    at once, also on a relay that is running.
    """
    from relay_server.app import build_service

    validate_client_id(client_id)
    config = load(config_file, data_dir=data_dir)
    token = secrets.token_urlsafe(32)
    replaced = build_service(config).register_client(client_id, hash_token(token))
    if replaced:
        click.echo(
            f"{client_id} already had a token: it is replaced, and the old one stops working "
            "now, also on the running relay."
        )
    click.echo(f"Token for {client_id} (shown once, stored only as a hash):\n\n    {token}\n")
    click.echo(f"On {client_id}'s machine:")
    click.echo(
        f"    agent-relay onboard --relay-url {relay_url(config.host, config.port)} "
        f"--token {token} --client-id {client_id}"
    )
    if config.effective_auth_mode != "per-client":
        click.echo(
            f"Note: this relay runs in {config.effective_auth_mode} mode; per-client tokens are "
            'used only with auth_mode = "per-client".'
        )


@click.command("remove-client")
@config_options
@click.argument("client_id")
def remove_client(config_file: Path | None, data_dir: Path | None, client_id: str) -> None:
    """Take away CLIENT_ID's per-client token; it stops working at once, also on a running relay.

    The client's sessions and messages stay. Give it a new token with `add-client`.
    """
    from relay_server.app import build_service

    validate_client_id(client_id)
    config = load(config_file, data_dir=data_dir)
    build_service(config).remove_client_token(client_id)
    click.echo(
        f"Removed the token of {client_id}: it stops working now, also on the running relay."
    )

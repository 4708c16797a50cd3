"""Clients and their tokens: ``clients`` lists them, ``add-client`` gives or rotates a token,
``revoke`` (also ``remove-client``) takes one away."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import click

from relay_core import from_ms, validate_client_id, validate_client_identity
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

    validate_client_identity(client_id)
    config = load(config_file, data_dir=data_dir)
    token = secrets.token_urlsafe(32)
    replaced = build_service(config).register_client(client_id, hash_token(token))
    if replaced:
        click.echo(
            f"{client_id} already had a token: it is replaced (rotated), and the old one stops "
            "working now, at once, also on the running relay."
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


@click.command("revoke")
@config_options
@click.argument("client_id")
def revoke(config_file: Path | None, data_dir: Path | None, client_id: str) -> None:
    """Take away CLIENT_ID's per-client token; it stops working at once, also on a running relay.

    The client's sessions and messages stay. Give it a new token with `add-client` or
    `join-code --client-id`. `remove-client` is the same command.
    """
    from relay_server.app import build_service

    validate_client_id(client_id)
    config = load(config_file, data_dir=data_dir)
    build_service(config).remove_client_token(client_id)
    click.echo(
        f"Revoked the token of {client_id}: it stops working now, also on the running relay "
        "(open MCP connections and waiting requests made with it are ended)."
    )


@click.command("clients")
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_clients(config_file: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """List the clients the relay knows: whether each holds a token, and when it was last seen.

    A client without a token was seen in shared or open mode, was invited to a session before it
    ever connected, or had its token revoked.
    """
    from relay_server.app import build_service

    config = load(config_file, data_dir=data_dir)
    records = build_service(config).list_clients()
    rows = [
        {
            "client_id": r.client_id,
            "token": r.has_token,
            "last_seen": from_ms(r.last_seen_ms).isoformat() if r.last_seen_ms else None,
        }
        for r in records
    ]
    if as_json:
        click.echo(json.dumps({"auth_mode": config.effective_auth_mode, "clients": rows}))
        return
    if not rows:
        click.echo("No clients yet.")
        return
    width = max(len("CLIENT"), *(len(r.client_id) for r in records))
    click.echo(f"{'CLIENT':<{width}}  TOKEN  LAST SEEN")
    for row in rows:
        token = "yes" if row["token"] else "no"
        click.echo(f"{row['client_id']:<{width}}  {token:<5}  {row['last_seen'] or 'never'}")
    if config.effective_auth_mode != "per-client":
        click.echo(
            f"(this relay runs in {config.effective_auth_mode} mode: per-client tokens are not "
            "used)"
        )

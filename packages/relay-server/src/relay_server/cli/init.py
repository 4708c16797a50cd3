"""``init``: write a commented config with a fresh token, and say how clients connect."""

from __future__ import annotations

import os
import secrets
import socket
import tomllib
from pathlib import Path
from typing import Final

import click

from relay_core.wire import DEFAULT_HOST, DEFAULT_PORT
from relay_server.cli.group import CONFIG_FILE_NAME
from relay_server.config import ServerConfig, default_data_dir, hash_token, is_loopback
from relay_server.local_addresses import local_addresses


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the relay keeps its data [default: the user data dir].",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--per-client", is_flag=True, help="One token per client (add-client) instead.")
@click.option("--force", is_flag=True, help="Replace an existing config file.")
@click.option(
    "--tls",
    is_flag=True,
    help="Make a private CA and a certificate for this host, and serve HTTPS (on an existing "
    "config: add them, keeping its token).",
)
def init(
    data_dir: Path | None, host: str, port: int, per_client: bool, force: bool, tls: bool
) -> None:
    """Write a commented config with a fresh token, and say how to connect."""
    data_dir = data_dir or default_data_dir()
    path = data_dir / CONFIG_FILE_NAME
    if path.exists() and not force:
        if tls:
            add_tls(path)
            return
        raise click.ClickException(f"{path} exists; pass --force to replace it (and its token)")
    token = secrets.token_urlsafe(32)
    hostname = socket.gethostname()
    allowed = (
        [*sorted({hostname, f"{hostname}.local"}), *local_addresses()]
        if not is_loopback(host)
        else []
    )
    text = render_config(
        host=host,
        port=port,
        data_dir=data_dir,
        token_sha256=None if per_client else hash_token(token),
        allowed_hosts=allowed,
    )
    if tls:
        text += "\n" + TLS_LINE
    config = ServerConfig.model_validate(tomllib.loads(text))  # never write what it refuses
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_config(path, text)
    click.echo(f"Wrote {path}")
    if tls:
        _make_certificate(config)
    if allowed:
        click.echo(f"Clients may reach it as: {', '.join(allowed)} (allowed_hosts)")
    _say_how_to_connect(None if per_client else token, relay_url(host, port, tls))
    click.echo(f"Start the relay with: agent-relay-server serve --data-dir {data_dir}")


def _say_how_to_connect(shared_token: str | None, url: str) -> None:
    """The shared token, once, and the onboard line; or how per-client tokens are made."""
    if shared_token is None:
        click.echo(
            "Per-client tokens: create one per machine with `agent-relay-server add-client NAME`,"
            " or give it a one-time code from `agent-relay-server join-code`."
        )
        return
    click.echo(f"Shared token (shown once, stored only as a hash):\n\n    {shared_token}\n")
    click.echo("On each agent machine, with NAME its name on the relay (e.g. alice-laptop):")
    click.echo(f"    agent-relay onboard --relay-url {url} --token {shared_token} --client-id NAME")
    click.echo("(or give it a one-time code from `agent-relay-server join-code` instead)")


def _write_config(path: Path, text: str) -> None:
    """Replace the config file at once, readable by this user only (it may hold a token)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def relay_url(host: str, port: int, tls: bool = False) -> str:
    """The URL clients use for a relay listening on ``host``:``port``."""
    if not is_loopback(host) and host in {"0.0.0.0", "::", ""}:
        host = socket.gethostname()
    return f"{'https' if tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"


TLS_LINE: Final = "tls = true            # HTTPS with the CA and certificate in <data_dir>/tls\n"


def certificate_names(config: ServerConfig) -> list[str]:
    """The names and addresses the server certificate is for: this host's, and the config's."""
    hostname = socket.gethostname()
    listen = [] if config.host in {"0.0.0.0", "::", ""} else [config.host]
    return list(
        dict.fromkeys(
            [
                hostname,
                f"{hostname}.local",
                *listen,
                *config.allowed_hosts,
                *local_addresses(),
                "localhost",
                "127.0.0.1",
                "::1",
            ]
        )
    )


def _make_certificate(config: ServerConfig) -> None:
    from relay_server.tls import make_tls

    names = certificate_names(config)
    fingerprint = make_tls(config.tls_dir, names)
    click.echo(f"Made a private CA and a certificate for {', '.join(names)} in {config.tls_dir}")
    click.echo(f"CA fingerprint (clients confirm it, join codes carry it):\n\n    {fingerprint}\n")


def add_tls(path: Path) -> None:
    """Turn HTTPS on in an existing config: a new CA and certificate, and ``tls = true``."""
    text = path.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines(keepends=True) if not line.startswith("tls ")]
    text = "".join(kept).rstrip("\n") + "\n\n" + TLS_LINE
    _make_certificate(ServerConfig.model_validate(tomllib.loads(text)))
    _write_config(path, text)
    click.echo(
        f"Set tls = true in {path}; restart the relay. Clients onboarded before must pin the new "
        "CA: give them a join code, or run `agent-relay onboard --relay-url https://...` there."
    )


def render_config(
    *,
    host: str,
    port: int,
    data_dir: Path,
    token_sha256: str | None,
    allowed_hosts: list[str],
) -> str:
    """The text of a commented config file."""
    auth = (
        f'token_sha256 = "{token_sha256}"  # SHA-256 of the shared token (not the token)'
        if token_sha256
        else 'auth_mode = "per-client"   # tokens come from `agent-relay-server add-client NAME`'
    )
    hosts = ", ".join(f'"{h}"' for h in allowed_hosts)
    return f"""\
# agent-relay-server configuration. Every key can also be set as RELAY_<KEY> in the environment.

host = "{host}"          # 127.0.0.1 = this machine only; 0.0.0.0 = every interface
port = {port}
data_dir = "{data_dir}"

{auth}

# Host names clients may use to reach the relay (protects against DNS rebinding).
allowed_hosts = [{hosts}]

# Files: largest file, total store size, largest file moved inline by MCP tools (bytes).
# max_blob_bytes = 4294967296
# blob_quota_bytes = 68719476736
# inline_file_bytes = 8388608

# MCP revisions: "push" serves only those that carry live push (Claude Code falls back to them);
# "all" also serves 2026-07-28, on which no client gets push (docs/operators.md).
# mcp_revisions = "push"

# The web view at /ui is read-only; name a client (a participant) a person may post as there.
# ui_post_as = "dana"

# log_level = "info"
"""

"""``join-code``: a one-time code a person reads aloud, and the onboard line that uses it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import click

from relay_server.cli.group import config_options, load
from relay_server.cli.init import relay_url
from relay_server.config import ServerConfig, hash_token

_TTL_RE: Final = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNIT_S: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(value: str) -> float:
    """``90s``, ``10m``, ``2h``, ``1d`` or plain seconds, in seconds; click's error otherwise."""
    found = _TTL_RE.match(value.strip().lower())
    if not found:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 10m, 2h or 1d")
    return float(found.group(1)) * _UNIT_S[found.group(2)]


def relay_address(config: ServerConfig, address: str | None) -> str:
    """``host:port`` as the new machine reaches the relay: ``--address``, else what the relay
    listens on (this host's name when it listens on every interface)."""
    if address:
        return address if ":" in address.rsplit("]", 1)[-1] else f"{address}:{config.port}"
    return relay_url(config.host, config.port).split("://", 1)[1]


def _shared_token(config: ServerConfig) -> str:
    """The shared token to hand over: from the config when it holds it, else asked for."""
    if config.token:
        return config.token
    token: str = click.prompt(
        "The shared token (the relay keeps only its hash, so the code needs it to hand over)",
        hide_input=True,
    )
    if hash_token(token.strip()) != config.shared_token_hash:
        raise click.ClickException("that is not this relay's shared token")
    return token.strip()


@click.command("join-code")
@config_options
@click.option(
    "--client-id",
    help="Per-client mode: the id the new machine gets (replacing its token if it has one) "
    "[default: the machine names itself].",
)
@click.option(
    "--ttl", default="10m", show_default=True, help="How long the code stays valid (90s, 10m, 2h)."
)
@click.option(
    "--address", help="HOST[:PORT] the new machine reaches the relay at [default: from config]."
)
def join_code(
    config_file: Path | None,
    data_dir: Path | None,
    client_id: str | None,
    ttl: str,
    address: str | None,
) -> None:
    """Print a one-time join code and the `agent-relay onboard --join` line that uses it.

    The code is single use, expires (10 minutes by default) and is stored only as a hash.
    Per-client mode: using it registers the client with a new token of its own. Shared mode: it
    hands over the shared token.
    """
    from relay_server.app import build_service

    ttl_s = parse_ttl(ttl)
    config = load(config_file, data_dir=data_dir)
    shared = _shared_token(config) if config.effective_auth_mode == "shared" else None
    issued = build_service(config).create_join_code(
        ttl_s=ttl_s, client_id=client_id, shared_token=shared
    )
    until = datetime.fromtimestamp(issued.expires_ms / 1000, tz=UTC).strftime("%H:%M UTC")
    what = (
        f"registers {issued.client_id} (replacing any token it had)"
        if issued.client_id
        else "registers the new machine under the name it picks"
        if config.effective_auth_mode == "per-client"
        else "hands over the shared token"
    )
    click.echo(f"Join code (single use, valid until {until}; it {what}):\n")
    click.echo(f"    {issued.code}\n")
    click.echo("On the new machine:")
    click.echo(
        f"    agent-relay onboard --join {issued.code}@{relay_address(config, address)}"
        f"{_pinned(config)}"
    )


def _pinned(config: ServerConfig) -> str:
    """``/FINGERPRINT`` of the relay's CA when it speaks HTTPS, else nothing."""
    if config.tls_ca_path is None:
        return ""
    from relay_server.tls import CODE_FINGERPRINT_CHARS, fingerprint

    try:
        pem = config.tls_ca_path.read_bytes()
    except FileNotFoundError:
        raise click.ClickException(
            f"tls is on but {config.tls_ca_path} is missing: run `agent-relay-server init --tls`"
        ) from None
    return "/" + fingerprint(pem)[:CODE_FINGERPRINT_CHARS]

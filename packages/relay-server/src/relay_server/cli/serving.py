"""Commands that run the relay: ``serve``, and ``systemd-unit`` to run it as a service."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from relay_core.wire import DEFAULT_HOST, DEFAULT_PORT
from relay_server import __version__, systemd
from relay_server.cli.group import CONFIG_FILE_NAME, config_options, load
from relay_server.config import ServerConfig, is_loopback

if TYPE_CHECKING:
    from relay_server.discovery import Announcement

QUIET_LOGGERS = ("peewee",)
"""Loggers kept at INFO or above whatever the level: peewee logs every SQL statement with its
parameters at DEBUG, and those hold token hashes and message texts."""


def configure_logging(level: str) -> None:
    """Log to standard error at ``level``, never with SQL parameters."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))


@click.command()
@config_options
@click.option("--host", help=f"Address to listen on [default: {DEFAULT_HOST}].")
@click.option("--port", type=int, help=f"TCP port [default: {DEFAULT_PORT}].")
@click.option("--insecure-open", is_flag=True, default=None, help="Allow no token off loopback.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option(
    "--no-announce", "announce", flag_value=False, default=None, help="Do not announce on the LAN."
)
def serve(
    config_file: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    insecure_open: bool | None,
    log_level: str | None,
    announce: bool | None,
) -> None:
    """Run the relay: MCP at /mcp, the HTTP API at /api/v1, files at /blobs."""
    from relay_server import serving
    from relay_server.app import build_relay

    config = load(
        config_file,
        data_dir=data_dir,
        host=host,
        port=port,
        insecure_open=insecure_open,
        log_level=log_level,
        announce=announce,
    )
    config.refuse_insecure_listen()
    config.tls_options()  # missing TLS files stop serve before it binds the port
    configure_logging(config.log_level)
    serving.quiet_fastmcp_telemetry()
    sock = serving.listen(config.host, config.port)  # before anything else: a taken port says so
    relay = build_relay(config)
    if not config.tls and not is_loopback(config.host):
        click.echo(
            "Warning: plain HTTP beyond this machine: tokens and messages cross the network in "
            "clear. `agent-relay-server init --tls` makes a certificate; then set tls = true.",
            err=True,
        )
    click.echo(
        f"agent-relay-server {__version__} on {config.scheme}://{config.host}:"
        f"{sock.getsockname()[1]} "
        f"(MCP at /mcp, auth {config.effective_auth_mode}, data in {config.data_dir})",
        err=True,
    )
    server = serving.RelayServer(relay.app, relay.hub, **serving.uvicorn_options(config))
    announcement = announce_relay(config, sock.getsockname()[1])
    try:
        server.run(sockets=[sock])
    finally:
        if announcement is not None:
            announcement.close()
    if not server.started:
        raise click.ClickException("the relay did not start; the log above says why")


def announce_relay(config: ServerConfig, port: int) -> Announcement | None:
    """Announce the relay on the LAN (mDNS), with its CA's fingerprint when it speaks HTTPS."""
    from relay_server.discovery import announce

    fingerprint = None
    if config.tls_ca_path is not None and config.announce:
        from relay_server.tls import CODE_FINGERPRINT_CHARS
        from relay_server.tls import fingerprint as ca_fingerprint

        fingerprint = ca_fingerprint(config.tls_ca_path.read_bytes())[:CODE_FINGERPRINT_CHARS]
    return announce(config, port, fingerprint)


def _this_executable() -> str:
    """The absolute path this ``agent-relay-server`` was started from, for ExecStart."""
    started_as = Path(sys.argv[0])
    if started_as.name == "agent-relay-server":
        return os.path.abspath(started_as)
    return shutil.which("agent-relay-server") or systemd.DEFAULT_EXECUTABLE


@click.command("systemd-unit")
@click.option(
    "--data-dir",
    default=systemd.DEFAULT_DATA_DIR,
    show_default=True,
    help="The relay's data directory (under /var/lib it becomes the StateDirectory).",
)
@click.option(
    "--config",
    "config_file",
    help="The config file the service reads [default: DATA_DIR/config.toml, where init writes].",
)
@click.option(
    "--executable",
    help="Absolute path of agent-relay-server [default: this one].",
)
@click.option(
    "--user",
    default=systemd.DEFAULT_USER,
    show_default=True,
    help="System account the relay runs as.",
)
@click.option(
    "--dynamic-user", is_flag=True, help="Run as a transient DynamicUser= account instead."
)
def systemd_unit(
    data_dir: str,
    config_file: str | None,
    executable: str | None,
    user: str,
    dynamic_user: bool,
) -> None:
    """Print a hardened systemd unit that runs `serve` (install it as agent-relay.service)."""
    program = executable or _this_executable()
    try:
        unit = systemd.render_unit(
            executable=program,
            interpreter=systemd.interpreter_of(program),
            data_dir=data_dir,
            config=config_file or f"{data_dir.rstrip('/')}/{CONFIG_FILE_NAME}",
            user=None if dynamic_user else user,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(unit, nl=False)

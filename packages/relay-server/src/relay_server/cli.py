"""``agent-relay-server``: run the relay and administer its data.

Every command reads the same configuration (``--config`` or ``$RELAY_CONFIG``, ``RELAY_*``
variables, then flags). Relay errors are printed as one sentence, never as a traceback.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from relay_core import RelayError, validate_client_id
from relay_core.wire import DEFAULT_HOST, DEFAULT_PORT
from relay_server import __version__, systemd
from relay_server.config import ServerConfig, default_data_dir, hash_token, is_loopback, load_config
from relay_server.local_addresses import local_addresses
from relay_server.storage.sqlite import PRIVATE_UMASK

if TYPE_CHECKING:
    from relay_server.maintenance import BackupReport, CheckReport

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_FILE_NAME = "config.toml"


class RelayCommandError(click.ClickException):
    """A relay error shown as one line, with exit code 2 for bad input and 1 otherwise."""

    def __init__(self, error: RelayError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.exit_code = 2 if error.code == "invalid" else 1


class RelayGroup(click.Group):
    """Turns any RelayError raised by a command into a one-line error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelayError as error:
            raise RelayCommandError(error) from None


def config_options(function: F) -> F:
    """``--config`` and ``--data-dir``, shared by every command that opens the data."""
    function = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where the database and files live [default: the user data dir].",
    )(function)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A TOML config file [default: $RELAY_CONFIG].",
    )(function)


def load(config_file: Path | None, **overrides: Any) -> ServerConfig:
    """The configuration for a command; ``<data-dir>/config.toml`` is used when it exists."""
    data_dir = overrides.get("data_dir")
    if config_file is None and not os.environ.get("RELAY_CONFIG"):
        candidate = (data_dir or default_data_dir()) / CONFIG_FILE_NAME
        if candidate.is_file():
            config_file = candidate
    return load_config(config_file=config_file, overrides=overrides)


@click.group(cls=RelayGroup)
@click.version_option(__version__, prog_name="agent-relay-server")
def main() -> None:
    """The agent-relay server: sessions, messages and files for AI agents on your LAN."""
    # Everything the relay writes (database, WAL, blobs, temp files, backups, config) holds
    # other people's messages and files: for this user only, whatever umask we were given.
    os.umask(PRIVATE_UMASK)


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


@main.command()
@config_options
@click.option("--host", help=f"Address to listen on [default: {DEFAULT_HOST}].")
@click.option("--port", type=int, help=f"TCP port [default: {DEFAULT_PORT}].")
@click.option("--insecure-open", is_flag=True, default=None, help="Allow no token off loopback.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
def serve(
    config_file: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    insecure_open: bool | None,
    log_level: str | None,
) -> None:
    """Run the relay: MCP at /mcp, the HTTP API at /api/v1, files at /blobs."""
    import uvicorn

    from relay_server.app import build_relay
    from relay_server.serving import RelayServer, listen, uvicorn_options

    config = load(
        config_file,
        data_dir=data_dir,
        host=host,
        port=port,
        insecure_open=insecure_open,
        log_level=log_level,
    )
    config.refuse_insecure_listen()
    configure_logging(config.log_level)
    sock = listen(config.host, config.port)  # before anything else: a taken port says so
    relay = build_relay(config)
    click.echo(
        f"agent-relay-server {__version__} on http://{config.host}:{sock.getsockname()[1]} "
        f"(MCP at /mcp, auth {config.effective_auth_mode}, data in {config.data_dir})",
        err=True,
    )
    server = RelayServer(uvicorn.Config(relay.app, **uvicorn_options(config)), relay.hub)
    server.run(sockets=[sock])
    if not server.started:
        raise click.ClickException("the relay did not start; the log above says why")


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the relay keeps its data [default: the user data dir].",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--per-client", is_flag=True, help="One token per client (add-client) instead.")
@click.option("--force", is_flag=True, help="Replace an existing config file.")
def init(data_dir: Path | None, host: str, port: int, per_client: bool, force: bool) -> None:
    """Write a commented config with a fresh token, and say how to connect."""
    data_dir = data_dir or default_data_dir()
    path = data_dir / CONFIG_FILE_NAME
    if path.exists() and not force:
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
    ServerConfig.model_validate(tomllib.loads(text))  # never write a file the relay refuses
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    click.echo(f"Wrote {path}")
    if allowed:
        click.echo(f"Clients may reach it as: {', '.join(allowed)} (allowed_hosts)")
    if per_client:
        click.echo(
            "Per-client tokens: create one per machine with `agent-relay-server add-client NAME`."
        )
    else:
        click.echo(f"Shared token (shown once, stored only as a hash):\n\n    {token}\n")
        click.echo("On each agent machine, with NAME its name on the relay (e.g. alice-laptop):")
        click.echo(
            f"    agent-relay onboard --relay-url {relay_url(host, port)} --token {token} "
            "--client-id NAME"
        )
    click.echo(f"Start the relay with: agent-relay-server serve --data-dir {data_dir}")


def relay_url(host: str, port: int) -> str:
    """The URL clients use for a relay listening on ``host``:``port``."""
    if not is_loopback(host) and host in {"0.0.0.0", "::", ""}:
        host = socket.gethostname()
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


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

# log_level = "info"
"""


@main.command("add-client")
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


@main.command("remove-client")
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


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Duration(click.ParamType):
    """A length of time: ``90s``, ``30m``, ``24h``, ``7d`` or plain seconds; in seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """The number of seconds ``value`` stands for."""
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        factor = _DURATION_UNITS.get(text[-1:])
        number = text[:-1] if factor else text
        try:
            seconds = float(number) * (factor or 1.0)
        except ValueError:
            seconds = -1.0
        if not seconds >= 0 or seconds == float("inf"):
            self.fail(f"{value!r} is not a duration such as 90s, 30m, 24h or 7d", param, ctx)
        return seconds


def _size(size: int) -> str:
    """Bytes for people: ``512 B``, ``3.2 MiB``."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


@main.command()
@config_options
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--grace",
    type=Duration(),
    default=None,
    help="Keep unattached files this long after upload (90s, 30m, 24h, 7d) "
    "[default: blob_grace_s from the config, 24h].",
)
def gc(config_file: Path | None, data_dir: Path | None, dry_run: bool, grace: float | None) -> None:
    """Remove files no message references once their grace period is over.

    Also removes temp files left by crashed uploads. Safe while the relay runs.
    """
    from relay_server.app import build_service

    config = load(config_file, data_dir=data_dir)
    grace_s = config.blob_grace_s if grace is None else grace
    report = build_service(config).collect_garbage(grace_s, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for blob in report.blobs:
        click.echo(f"{verb} {blob.sha256}  {_size(blob.size)}")
    for leftover in report.temp_files:
        click.echo(f"{verb} leftover {leftover}")
    click.echo(
        f"{'would free' if dry_run else 'freed'} {_size(report.freed_bytes)}: "
        f"{len(report.blobs)} unreferenced file(s) older than {grace_s:g}s, "
        f"{len(report.temp_files)} leftover(s)"
    )


def _report(report: CheckReport | BackupReport, summary: str) -> None:
    """Print a maintenance report: one line a problem, then the summary; exit 1 unless ok."""
    for problem in report.problems:
        click.echo(problem.line())
    click.echo(summary)
    if not report.ok:
        raise click.exceptions.Exit(1)


@main.command()
@config_options
@click.option(
    "--repair",
    is_flag=True,
    help="Move bad files into <data-dir>/quarantine and remove leftover temp files.",
)
def check(config_file: Path | None, data_dir: Path | None, repair: bool) -> None:
    """Verify the database and every file's digest; print each problem on one line.

    Checks SQLite's integrity, foreign keys and migrations, hashes every stored file, and looks
    for attachments whose file is missing and temp files of crashed uploads. Exit status 1 while
    something is wrong. Safe while the relay runs; without --repair it changes nothing.
    """
    from relay_server.maintenance import check as check_data

    config = load(config_file, data_dir=data_dir)
    report = check_data(config, repair=repair)
    left = sum(1 for problem in report.problems if not problem.repaired)
    repaired = len(report.problems) - left
    _report(
        report,
        f"checked the database ({report.messages} message(s), {report.attachments} "
        f"attachment(s)) and {report.blobs} file(s), {_size(report.blob_bytes)}: "
        + (f"{left} problem(s)" if left else "no problems")
        + (f", {repaired} repaired" if repaired else "")
        + (f", {report.uploads_in_flight} upload(s) in flight" if report.uploads_in_flight else ""),
    )


@main.command()
@config_options
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def backup(config_file: Path | None, data_dir: Path | None, path: Path) -> None:
    """Copy the database and every file into PATH, a new directory, while the relay runs.

    The copy is one consistent moment of the database plus every file it references, each
    verified, and a manifest.json. PATH is laid out like a data dir; bring it back with
    `agent-relay-server restore PATH`. Exit status 1 when a file the database references could
    not be copied.
    """
    from relay_server.maintenance import backup as backup_data

    config = load(config_file, data_dir=data_dir)
    report = backup_data(config, path)
    database, blobs = report.manifest["database"], report.manifest["blobs"]
    _report(
        report,
        f"backed up {database['messages']} message(s) (up to id {database['last_message_id']}) "
        f"and {blobs['count']} file(s), {_size(blobs['bytes'])}, to {report.path}",
    )


@main.command()
@config_options
@click.argument("backup_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--skip-ids",
    type=click.IntRange(min=0),
    help="Start new message ids this far past the backup's last one [default: 1000000].",
)
def restore(
    config_file: Path | None, data_dir: Path | None, backup_dir: Path, skip_ids: int | None
) -> None:
    """Copy a backup made by `backup` into a new (or empty) data dir, verifying every file.

    New message ids start well past the backup's last one, so clients whose cursors point at
    messages the lost relay took after the backup still see every new message. Then start the
    relay on the data dir with `agent-relay-server serve`.
    """
    from relay_server.maintenance import RESTORE_SKIP_IDS
    from relay_server.maintenance import restore as restore_data

    config = load(config_file, data_dir=data_dir)
    skip_ids = RESTORE_SKIP_IDS if skip_ids is None else skip_ids
    report = restore_data(backup_dir, config, skip_ids=skip_ids)
    database, blobs = report.manifest["database"], report.manifest["blobs"]
    _report(
        report,
        f"restored {database['messages']} message(s) (up to id {database['last_message_id']}; "
        f"new ones start after {database['last_message_id'] + skip_ids}) and {blobs['count']} "
        f"file(s), {_size(blobs['bytes'])}, into {report.path}",
    )


def _this_executable() -> str:
    """The absolute path this ``agent-relay-server`` was started from, for ExecStart."""
    started_as = Path(sys.argv[0])
    if started_as.name == "agent-relay-server":
        return os.path.abspath(started_as)
    return shutil.which("agent-relay-server") or systemd.DEFAULT_EXECUTABLE


@main.command("systemd-unit")
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

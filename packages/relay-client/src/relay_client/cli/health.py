"""``agent-relay status`` and ``agent-relay doctor``: how things stand, and what to fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Final, Literal

import click

from relay_client import claude
from relay_client.api import MisdirectedHost
from relay_client.cli.app import App, echo_json, json_option, pass_app
from relay_client.cli.render import format_ago, format_bytes, format_duration, visible
from relay_client.config import ClientConfig, NotConfigured
from relay_client.cursors import Cursors
from relay_client.files import mode_is_private
from relay_client.roster import Roster
from relay_core import RelayError
from relay_core.errors import FORBIDDEN, UNAUTHORIZED, UNAVAILABLE

MAX_CLOCK_SKEW_S: Final = 5.0
"""Beyond this, timestamps and "last seen" times from the relay mislead."""


@click.command()
@json_option
@pass_app
def status(app: App, as_json: bool) -> None:
    """The relay's health, version, uptime and counts; peers; your unread messages."""
    client = app.client
    state = client.status()
    peers = client.peers()
    sessions = client.list_sessions()
    if as_json:
        echo_json(
            {
                "relay_url": app.config.relay_url,
                "status": state,
                "peers": peers,
                "sessions": sessions,
            }
        )
        return
    counts = state.counts
    click.echo(
        f"relay     {app.config.relay_url}: version {visible(state.version)}, "
        f"up {format_duration(state.uptime_s)}"
    )
    click.echo(f"you       {visible(state.caller)} (auth mode {visible(state.auth_mode)})")
    click.echo(
        f"holds     {counts.clients} clients, {counts.sessions} sessions, "
        f"{counts.messages} messages, {counts.blobs} files ({format_bytes(counts.blob_bytes)})"
    )
    click.echo(f"unread    {state.unread} message(s)")
    for summary in sessions:
        if summary.unread:
            click.echo(f"  {visible(summary.name)}: {summary.unread} unread")
    click.echo("peers" if peers else "peers     none seen yet")
    for peer in peers:
        shared = visible(" ".join(peer.shared_sessions)) or "no shared sessions"
        who = visible(app.who(peer.client_id))
        seen = format_ago(peer.last_seen)
        click.echo(f"  {who:<24} {peer.presence:<7} last seen {seen}; {shared}")


State = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One line of ``doctor``'s report."""

    name: str
    state: State
    detail: str
    fix: str = ""


@click.command()
@json_option
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check config files, the relay, the token, clock skew and Claude Code; say what to fix.

    Exits 1 when a check failed.
    """
    checks = list(_run_checks(app))
    if as_json:
        echo_json({"checks": [asdict(check) for check in checks]})
    else:
        for check in checks:
            click.echo(f"{check.state.upper():<5} {check.name:<12} {visible(check.detail)}")
            if check.fix:
                click.echo(f"{'':<18} fix: {visible(check.fix)}")
    if any(check.state == "fail" for check in checks):
        raise click.exceptions.Exit(1)


def _run_checks(app: App) -> list[Check]:
    paths = app.paths
    checks = [Check("data root", "ok" if paths.root.is_dir() else "warn", str(paths.root))]
    config_check, config = _config_check(app)
    checks.append(config_check)
    checks.append(_file_check("peers", lambda: f"{len(Roster.load(paths.peers))} peer(s)"))
    checks.append(_file_check("cursors", lambda: f"{len(Cursors(paths.cursors).all())} session(s)"))
    if config is not None:
        checks += _relay_checks(app, config)
    checks.append(_claude_check(config))
    return checks


def _config_check(app: App) -> tuple[Check, ClientConfig | None]:
    path = app.paths.config
    try:
        config = app.config
    except NotConfigured:
        return Check("config", "fail", f"{path} does not exist", "run `agent-relay onboard`"), None
    except RelayError as exc:
        fix = "correct the file by hand, or run `agent-relay onboard` after removing it"
        return Check("config", "fail", exc.message, fix), None
    if not mode_is_private(path):
        return Check("config", "warn", f"{path} is readable by others", f"chmod 600 {path}"), config
    return Check("config", "ok", f"{path}: {config.client_id} at {config.relay_url}"), config


def _file_check(name: str, load: Callable[[], str]) -> Check:
    try:
        return Check(name, "ok", load())
    except RelayError as exc:
        return Check(name, "fail", exc.message, "correct or remove the file")


def _relay_checks(app: App, config: ClientConfig) -> list[Check]:
    client = app.client
    try:
        health = client.health()
    except MisdirectedHost as exc:
        host = exc.details.get("host", "")
        detail = f"{config.relay_url} refused the host name {host!r} (HTTP 421 Misdirected Request)"
        return [Check("relay", "fail", detail, MisdirectedHost.fix(host))]
    except RelayError as exc:
        fix = (
            "start the relay (`agent-relay-server serve`) or correct the URL with "
            "`agent-relay onboard --relay-url URL`"
        )
        return [Check("relay", "fail", exc.message, fix if exc.code == UNAVAILABLE else "")]
    checks = [Check("relay", "ok", f"{config.relay_url} answers, version {health.version}")]
    try:
        who = client.whoami()
    except RelayError as exc:
        fixes = {
            UNAUTHORIZED: "get the token from the relay's operator, then "
            "`agent-relay onboard --token TOKEN`",
            FORBIDDEN: "the token belongs to another client id: "
            "`agent-relay onboard --client-id ID`",
        }
        checks.append(Check("token", "fail", exc.message, fixes.get(exc.code, "")))
    else:
        if who.client_id == config.client_id:
            checks.append(
                Check("token", "ok", f"accepted: you are {who.client_id} ({who.auth_mode})")
            )
        else:
            checks.append(
                Check(
                    "token",
                    "warn",
                    f"the relay knows you as {who.client_id}, config.toml says {config.client_id}",
                    f"`agent-relay onboard --client-id {who.client_id}`",
                )
            )
    checks.append(_clock_check(app))
    return checks


def _clock_check(app: App) -> Check:
    try:
        skew = app.client.clock_skew_s()
    except RelayError as exc:
        return Check("clock", "warn", f"could not compare clocks: {exc.message}")
    if skew is None:
        return Check("clock", "warn", "the relay sent no Date header to compare clocks with")
    if abs(skew) <= MAX_CLOCK_SKEW_S:
        return Check("clock", "ok", f"within {MAX_CLOCK_SKEW_S:g} s of the relay's")
    direction = "behind" if skew > 0 else "ahead of"
    return Check(
        "clock",
        "warn",
        f"this machine's clock is {abs(skew):.0f} s {direction} the relay's",
        "turn on time synchronisation (e.g. `timedatectl set-ntp true`) on both machines",
    )


def _claude_check(config: ClientConfig | None) -> Check:
    try:
        found = claude.registration()
    except RelayError as exc:
        return Check("claude code", "warn", exc.message)
    if found.claude is None:
        return Check(
            "claude code",
            "warn",
            "the `claude` command was not found on PATH",
            "install Claude Code, or use `agent-relay connect --print` for another MCP client",
        )
    if found.connected and found.plugin:
        return Check(
            "claude code",
            "warn",
            f"registered twice: by the agent-relay plugin ({claude.PLUGIN_SERVER_NAME}) and by "
            f"`agent-relay connect` ({claude.SERVER_NAME})",
            f"keep the plugin's: `claude mcp remove {claude.SERVER_NAME}`",
        )
    entry = found.plugin or found.connected
    if entry is None:
        return Check(
            "claude code",
            "warn",
            "agent-relay is not registered",
            "run `agent-relay connect` (not needed once the agent-relay plugin is installed)",
        )
    return _entry_check(entry, config, plugin=entry is found.plugin)


def _entry_check(entry: claude.Entry, config: ClientConfig | None, *, plugin: bool) -> Check:
    """Does Claude Code's entry for the relay match config.toml?"""
    source = "the agent-relay plugin" if plugin else "agent-relay connect"
    how = f"{source} ({entry.name})"
    expected = claude.mcp_url(config) if config else None
    if expected and entry.url and entry.url != expected:
        fix = (
            "give the plugin and `agent-relay onboard --relay-url` the same relay URL"
            if plugin
            else "run `agent-relay connect` to update it"
        )
        return Check(
            "claude code", "warn", f"{how} uses {entry.url}, but config.toml says {expected}", fix
        )
    if config and plugin and entry.client_id and entry.client_id != config.client_id:
        return Check(
            "claude code",
            "warn",
            f"the plugin identifies as {entry.client_id}, config.toml as {config.client_id}: "
            "the agent and the command line are two clients",
            f"`agent-relay onboard --client-id {entry.client_id}`",
        )
    return Check("claude code", "ok", f"registered by {how} ({entry.url or 'URL not shown'})")

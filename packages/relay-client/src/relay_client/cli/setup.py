"""Setting a machine up: ``onboard``, ``connect`` and ``config path|show``."""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import click

from relay_client import claude
from relay_client.api import RelayClient
from relay_client.cli.app import App, echo_json, json_option, pass_app
from relay_client.cli.render import visible
from relay_client.config import ClientConfig, normalise_relay_url, validate_token
from relay_client.joining import CA_FILE_NAME, JoinClient, parse_join_code, pin_relay_ca
from relay_client.roster import Roster
from relay_core import (
    Health,
    InvalidInput,
    NotFound,
    RelayError,
    WhoAmI,
    validate_client_id,
    validate_client_identity,
    wire,
)

DEFAULT_RELAY_URL: Final = f"http://{wire.DEFAULT_HOST}:{wire.DEFAULT_PORT}"


def default_client_id(user: str | None = None, host: str | None = None) -> str:
    """``user-host`` made into a valid client id (lowercase, only allowed characters)."""
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "agent"
    host = (host if host is not None else socket.gethostname()).split(".")[0]
    raw = f"{user}-{host}".lower()
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", raw)
    cleaned = re.sub(r"-{2,}", "-", cleaned).lstrip("-_")[:64].rstrip("-_") or "agent"
    return validate_client_id(cleaned)


def parse_peer(value: str) -> tuple[str, str]:
    """``NAME=CLIENT_ID`` as a pair; raise InvalidInput for anything else."""
    name, sep, client_id = value.partition("=")
    if not sep or not name.strip() or not client_id.strip():
        raise InvalidInput(f"peer {value!r} is not NAME=CLIENT_ID")
    return name.strip(), client_id.strip()


def _checked_by(check: Callable[[str], object]) -> Callable[[str], str]:
    """A click prompt value_proc that re-asks when ``check`` raises InvalidInput."""

    def run(value: str) -> str:
        try:
            check(value)
        except InvalidInput as exc:
            raise click.UsageError(exc.message) from None
        return value

    return run


@click.command()
@click.option("--relay-url", help="The relay's base URL, e.g. http://relay.lan:7878.")
@click.option("--client-id", help="This machine's name on the relay (default: user-host).")
@click.option("--token", help="The relay's bearer token (empty for an open relay).")
@click.option(
    "--join",
    "join_code",
    metavar="CODE",
    help="A one-time code from `agent-relay-server join-code`: gets this machine its token.",
)
@click.option(
    "--discover", is_flag=True, help="Find the relay on the LAN (mDNS) instead of --relay-url."
)
@click.option(
    "--ca-fingerprint",
    metavar="FP",
    help="An HTTPS relay's CA fingerprint, as its operator sees it (instead of confirming it).",
)
@click.option(
    "--add-peer",
    "add_peers",
    multiple=True,
    metavar="NAME=ID",
    help="Add a peer to the roster; repeatable.",
)
@click.option("--no-check", is_flag=True, help="Do not contact the relay afterwards.")
@click.option("--no-input", is_flag=True, help="Never prompt: keep or default what is not given.")
@json_option
@pass_app
def onboard(
    app: App,
    relay_url: str | None,
    client_id: str | None,
    token: str | None,
    join_code: str | None,
    discover: bool,
    ca_fingerprint: str | None,
    add_peers: tuple[str, ...],
    no_check: bool,
    no_input: bool,
    as_json: bool,
) -> None:
    """Set this machine up: relay URL, client id, token and peers; then check the relay.

    Without options it asks for each value (Enter keeps the current one). With options it asks
    nothing: what is not given keeps its current value, or its default on a first run
    (so does --json). --join CODE gets the relay's address and this machine's token from a
    one-time join code instead of a copied URL and token.
    """
    existing = ClientConfig.load_optional(app.paths.config)
    if discover:
        relay_url = _discovered(relay_url, not no_input and not as_json)
    if join_code is not None:
        if token is not None:
            raise InvalidInput("give --join or --token, not both: the join code gets the token")
        relay_url, client_id, token, ca = _join(
            app, join_code, relay_url, client_id, ca_fingerprint, existing
        )
    given = (relay_url, client_id, token is not None, add_peers, ca_fingerprint)
    interactive = not no_input and not as_json and not any(given)
    url = relay_url or (existing.relay_url if existing else DEFAULT_RELAY_URL)
    me = client_id or (existing.client_id if existing else default_client_id())
    secret = token if token is not None else (existing.token if existing else "")
    if interactive:
        url = click.prompt("Relay URL", default=url, value_proc=_checked_by(normalise_relay_url))
        me = click.prompt("Client id", default=me, value_proc=_checked_by(validate_client_identity))
        note = " (Enter keeps the current one)" if secret else " (Enter for an open relay)"
        secret = click.prompt(
            f"Token{note}",
            default=secret,
            hide_input=True,
            show_default=False,
            value_proc=_checked_by(validate_token),
        )
    if join_code is None:
        ca = _trust(app, url, ca_fingerprint, existing, interactive, no_check)
    config = ClientConfig(relay_url=url, client_id=me, token=secret, ca_cert=ca)
    if config.relay_url != url.strip().rstrip("/"):
        click.echo(
            f"Using relay URL {config.relay_url}: the relay's base URL, without {wire.MCP_PATH} "
            "(its MCP endpoint, which `agent-relay connect` adds).",
            err=True,
        )
    roster = Roster.load(app.paths.peers)
    peers = [parse_peer(value) for value in add_peers]
    while interactive:
        answer = click.prompt(
            "Add a peer as NAME=CLIENT_ID (Enter to finish)", default="", show_default=False
        )
        if not answer.strip():
            break
        try:
            peers.append(parse_peer(answer))
        except InvalidInput as exc:
            click.echo(f"Error: {exc.message}", err=True)
    for name, peer_id in peers:
        roster.add(name, peer_id, replace=True)
    config.save(app.paths.config)
    if peers or not app.paths.peers.exists():
        roster.save()
    say = _quiet if as_json else click.echo
    say(f"Saved {app.paths.config}")
    if peers:
        say(f"Saved {len(peers)} peer(s) to {app.paths.peers}")
    checked = None if no_check else _check_relay(config, say)
    next_step = _next_step()
    if as_json:
        echo_json(
            {
                **config.shown(),
                "config_file": str(app.paths.config),
                "peers_added": [{"name": name, "client_id": id_} for name, id_ in peers],
                "relay": checked[0] if checked else None,
                "whoami": checked[1] if checked else None,
                "next": next_step,
            }
        )
    else:
        click.echo(next_step)


def _join(
    app: App,
    code: str,
    relay_url: str | None,
    client_id: str | None,
    fingerprint: str | None,
    existing: ClientConfig | None,
) -> tuple[str, str, str, str]:
    """Exchange a join code: the relay URL, this machine's client id, its token and the pinned
    CA (empty when there is none). An HTTPS relay's CA is pinned first, checked against the
    fingerprint the code carries (or confirmed by the person), so the code goes only to it."""
    parsed = parse_join_code(code)
    url = normalise_relay_url(relay_url or parsed.relay_url or "")
    if relay_url is None and parsed.relay_url is None:
        raise InvalidInput(
            "this join code has no relay address: give it as CODE@HOST:PORT, or add --relay-url"
        )
    pinned = parsed.fingerprint or fingerprint
    ca = _trust(app, url, pinned, None, not pinned, False)
    asked = client_id or (existing.client_id if existing else default_client_id())
    with contextlib.closing(JoinClient(url, verify=ca or True)) as client:
        joined = client.join(parsed.secret, asked)
    click.echo(
        f"Join code accepted: this machine is {joined.client_id} on the relay "
        f"({joined.auth_mode} mode); its token is saved, not shown.",
        err=True,
    )
    return url, joined.client_id, joined.token, ca


def _discovered(relay_url: str | None, interactive: bool) -> str:
    """The URL of a relay found on the LAN: the only one, or the one the person picks."""
    from relay_client.discovery import DEFAULT_BROWSE_S, discover

    if relay_url is not None:
        raise InvalidInput("give --discover or --relay-url, not both")
    found = discover()
    if not found:
        raise NotFound(
            f"no relay announced itself on this network within {DEFAULT_BROWSE_S:g} s: ask its "
            "operator for its URL or a join code (a relay on loopback, or started with "
            "--no-announce, is not announced)"
        )
    for number, relay in enumerate(found, 1):
        fingerprint = f", CA {relay.fingerprint[:16]}..." if relay.fingerprint else ""
        click.echo(
            f"  {number}. {visible(relay.name)}: {relay.relay_url} (version "
            f"{visible(relay.version)}, auth {visible(relay.auth_mode)}{fingerprint})",
            err=True,
        )
    if len(found) == 1:
        return found[0].relay_url
    if not interactive:
        raise InvalidInput("several relays answered: choose one with --relay-url URL")
    choice: int = click.prompt("Which relay", type=click.IntRange(1, len(found)), err=True)
    return found[choice - 1].relay_url


def _trust(
    app: App,
    url: str,
    fingerprint: str | None,
    existing: ClientConfig | None,
    interactive: bool,
    no_check: bool,
) -> str:
    """The CA to verify ``url`` with: "" for plain HTTP (with a warning off loopback) or a relay
    whose certificate the system trusts; else the relay's own CA, pinned."""
    host = urlsplit(url).hostname or ""
    if url.startswith("http://"):
        if not _is_loopback(host):
            click.echo(
                f"Warning: {url} is plain HTTP: the token and messages cross the network in "
                "clear. Ask the relay's operator for HTTPS (`agent-relay-server init --tls`).",
                err=True,
            )
        return ""
    if existing is not None and existing.relay_url == url and existing.ca_cert and not fingerprint:
        return existing.ca_cert  # pinned before
    if no_check and not fingerprint:
        return existing.ca_cert if existing is not None and existing.relay_url == url else ""

    def confirm(actual: str) -> bool:
        shown = " ".join(actual[i : i + 4] for i in range(0, len(actual), 4))
        click.echo(f"The relay's CA fingerprint is:\n\n    {shown}\n", err=True)
        return click.confirm("Does the relay's operator see the same?", err=True)

    return pin_relay_ca(
        url,
        app.paths.root / CA_FILE_NAME,
        expected=fingerprint,
        confirm=confirm if interactive else None,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _quiet(_: str) -> None:
    """Says nothing: under --json, stdout holds only the JSON document."""


def _next_step() -> str:
    """What is left after onboarding: registering the relay with Claude Code, unless the
    plugin (or an earlier ``connect``) already did."""
    try:
        found = claude.registration()
    except RelayError:
        found = claude.Registration(None)
    if found.plugin is not None:
        return (
            f"Claude Code already reaches the relay through the agent-relay plugin "
            f"({claude.PLUGIN_SERVER_NAME}): there is nothing to connect."
        )
    if found.connected is not None:
        return (
            "Claude Code already has the relay (`agent-relay connect` registered it); run "
            "`agent-relay connect` again only if the URL, client id or token changed."
        )
    return (
        "Next: `agent-relay connect` registers the relay with Claude Code "
        "(not needed with the agent-relay plugin, which registers it itself)."
    )


def _check_relay(config: ClientConfig, say: Callable[[str], None]) -> tuple[Health, WhoAmI]:
    """Prove the relay answers and accepts the token; raises the RelayError if not."""
    with RelayClient.from_config(config) as client:
        health = client.health()
        say(f"Relay {config.relay_url} answers (version {visible(health.version)}).")
        who = client.whoami()
    say(f"Token accepted: you are {who.client_id} (auth mode {who.auth_mode}).")
    if who.client_id != config.client_id:
        click.echo(
            f"Warning: the relay knows this token as {who.client_id!r}, not "
            f"{config.client_id!r}: run `agent-relay onboard --client-id {who.client_id}`",
            err=True,
        )
    return health, who

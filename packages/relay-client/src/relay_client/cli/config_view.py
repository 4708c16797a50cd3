"""``agent-relay config``: where this machine's settings live, and what they are."""

from __future__ import annotations

import click

from relay_client.cli.app import App, echo_json, json_option, pass_app


@click.group("config")
def config_group() -> None:
    """Where this machine's settings live, and what they are."""


@config_group.command("path")
@json_option
@pass_app
def config_path(app: App, as_json: bool) -> None:
    """Print the data root (config.toml, peers.toml and cursors/ live there)."""
    if as_json:
        echo_json({"data_root": str(app.paths.root)})
    else:
        click.echo(str(app.paths.root))


@config_group.command("show")
@json_option
@pass_app
def config_show(app: App, as_json: bool) -> None:
    """Print the settings (the token masked) and the files they come from."""
    settings = app.config.shown()
    files = {
        "data_root": str(app.paths.root),
        "config_file": str(app.paths.config),
        "peers_file": str(app.paths.peers),
        "cursors_dir": str(app.paths.cursors),
    }
    if as_json:
        echo_json({**settings, **files})
        return
    for key, value in {**settings, **files}.items():
        click.echo(f"{key:<12} {value}")

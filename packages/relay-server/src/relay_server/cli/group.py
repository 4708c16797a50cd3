"""The ``agent-relay-server`` group: its one-line errors, the umask, and the shared options.

Every command reads the same configuration (``--config`` or ``$RELAY_CONFIG``, ``RELAY_*``
variables, then flags). Relay errors are printed as one sentence, never as a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from relay_core import RelayError
from relay_server import __version__
from relay_server.config import ServerConfig, default_data_dir, load_config
from relay_server.storage.sqlite import PRIVATE_UMASK

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_FILE_NAME = "config.toml"


class RelayCommandError(click.ClickException):
    """A relay error shown as one line, with exit code 1 (2 for bad input, :class:`_BadInput`)."""

    def __init__(self, error: RelayError) -> None:
        super().__init__(f"{error.code}: {error.message}")


class _BadInput(RelayCommandError):
    """A relay ``invalid`` error: exit code 2, like click's usage errors."""

    exit_code = 2  # click reads it from the class


class RelayGroup(click.Group):
    """Turns any RelayError raised by a command into a one-line error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelayError as error:
            shown = _BadInput if error.code == "invalid" else RelayCommandError
            raise shown(error) from None


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

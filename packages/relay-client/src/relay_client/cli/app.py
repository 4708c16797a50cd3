"""What every command shares: the context object, the ``--json`` option, output helpers,
and the one place where a RelayError becomes a one-line error and an exit code.

Every command imports this module, ``agent-relay --version`` too: what only some commands need
(the HTTP client, the config and state files, the models) is imported where it is first used.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from relay_client.cli.render import json_safe, visible
from relay_core.errors import (
    CONFLICT,
    FORBIDDEN,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    QUOTA_EXCEEDED,
    RATE_LIMITED,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    RelayError,
)

if TYPE_CHECKING:
    from relay_client.api import RelayClient
    from relay_client.config import ClientConfig
    from relay_client.cursors import Cursors
    from relay_client.paths import DataPaths
    from relay_client.roster import Roster

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES: Final = {
    INTERNAL: 1,
    INVALID: 2,
    UNAUTHORIZED: 3,
    FORBIDDEN: 4,
    NOT_FOUND: 5,
    CONFLICT: 6,
    TOO_LARGE: 7,
    RATE_LIMITED: 8,
    UNAVAILABLE: 9,
    QUOTA_EXCEEDED: 10,
}
"""The exit code of a command that failed with each error code (docs/client.md lists them)."""

HINTS: Final = {
    UNAUTHORIZED: "check the token: `agent-relay onboard --token TOKEN`",
    QUOTA_EXCEEDED: "ask the relay's operator to run `agent-relay-server gc` or raise the quota",
}


class CommandError(click.ClickException):
    """A RelayError as click shows it: ``Error: code: message`` on stderr, exit code by code."""

    def __init__(self, error: RelayError) -> None:
        # The message may come from the relay: it reaches the terminal only made visible.
        message = f"{error.code}: {visible(error.message)}"
        hint = HINTS.get(error.code)
        if hint and hint.split("`")[1] not in error.message:
            message += f" ({hint})"
        super().__init__(message)
        self.error = error
        # click declares exit_code per class; ours depends on the error, so it is per instance.
        self.exit_code = EXIT_CODES.get(error.code, 1)  # type: ignore[misc]


class RelayGroup(click.Group):
    """The root group: translates errors from any command below it, in one place.

    Under ``--json`` an error is also one JSON document on stdout,
    ``{"error": {"code": ..., "message": ...}}``, with the same exit code (docs/client.md).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Kept for errors that happen before the command's own --json is parsed (a bad option).
        ctx.meta[_RAW_ARGS] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke(ctx)
        except click.ClickException as exc:
            if _json_wanted(ctx):
                echo_json(error_document(exc), compact=True)
            raise

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelayError as exc:
            raise CommandError(exc) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went away (`| head`): click exits quietly
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(visible(f"{where}{exc.strerror or exc}")) from None


_RAW_ARGS: Final = "agent_relay.raw_args"
_JSON_FLAG: Final = "--json"


def _json_wanted(ctx: click.Context) -> bool:
    app = ctx.find_object(App)
    if app is not None and app.as_json:
        return True
    raw: list[str] = ctx.meta.get(_RAW_ARGS, [])
    return _JSON_FLAG in raw[: raw.index("--")] if "--" in raw else _JSON_FLAG in raw


def error_document(exc: click.ClickException) -> dict[str, Any]:
    """The JSON form of a failed command: ``{"error": {"code", "message"}}``."""
    if isinstance(exc, CommandError):
        code = exc.error.code
        return {"error": {"code": code, "message": exc.format_message().removeprefix(f"{code}: ")}}
    if isinstance(exc, click.UsageError):
        code = INVALID
    else:
        code = next((c for c, number in EXIT_CODES.items() if number == exc.exit_code), INTERNAL)
    return {"error": {"code": code, "message": exc.format_message()}}


class App:
    """This machine's config, roster, cursors and relay client, each built on first use."""

    def __init__(self, paths: DataPaths | None = None) -> None:
        from relay_client.paths import DataPaths

        self.paths = paths or DataPaths.default()
        self.as_json = False
        """Set by ``--json``: the command prints JSON, and so does an error."""

    @cached_property
    def config(self) -> ClientConfig:
        """config.toml; raises NotConfigured before ``agent-relay onboard``."""
        from relay_client.config import ClientConfig

        return ClientConfig.load(self.paths.config)

    @cached_property
    def roster(self) -> Roster:
        """peers.toml."""
        from relay_client.roster import Roster

        return Roster.load(self.paths.peers)

    @cached_property
    def cursors(self) -> Cursors:
        """cursors/."""
        from relay_client.cursors import Cursors

        return Cursors(self.paths.cursors)

    @cached_property
    def client(self) -> RelayClient:
        """The relay client for config.toml's relay, identity and token."""
        from relay_client.api import RelayClient

        return RelayClient.from_config(self.config)

    def resolve(self, names: Iterable[str]) -> list[str]:
        """Client ids for peer names or client ids (order kept, duplicates dropped)."""
        return list(dict.fromkeys(self.roster.resolve(name) for name in names))

    def who(self, client_id: str) -> str:
        """How a client is shown: ``you``, its roster name, or its client id."""
        if client_id == self.config.client_id:
            return "you"
        return self.roster.name_for(client_id) or client_id

    def close(self) -> None:
        """Close the relay client if one was built."""
        if "client" in self.__dict__:
            self.client.close()


pass_app = click.make_pass_decorator(App)


def json_option(function: F) -> F:
    """The shared ``--json`` flag: print JSON for scripts instead of text for people.

    Every command takes it (a test walks the command tree); the rule it follows is in
    docs/client.md.
    """
    return click.option(
        _JSON_FLAG,
        "as_json",
        is_flag=True,
        callback=_remember_json,
        help="Print JSON for scripts instead of text (errors too).",
    )(function)


def _remember_json(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
    app = ctx.find_object(App)
    if app is not None and value:
        app.as_json = True
    return value


def jsonable(value: Any) -> Any:
    """Models and lists of models as plain JSON data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        from relay_core.timestamps import format_timestamp

        return format_timestamp(value)
    return value


def echo_json(value: Any, *, compact: bool = False) -> None:
    """Print JSON on stdout (one line when ``compact``, for JSON Lines)."""
    indent = None if compact else 2
    click.echo(json_safe(json.dumps(jsonable(value), indent=indent, ensure_ascii=False)))


def echo_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print rows as left-aligned columns under a header line (cells made visible)."""
    rows = [[visible(str(cell)) for cell in row] for row in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in [headers, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

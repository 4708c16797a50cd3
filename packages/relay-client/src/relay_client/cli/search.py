"""``agent-relay search QUERY``: find messages you may read by their words or attachment names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from relay_client.cli.app import App, echo_json, json_option, pass_app
from relay_client.cli.render import format_time, visible

_AGO = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> datetime:
    """``2h`` (that long ago: s, m, h or d) or an ISO 8601 time (UTC if it names no zone)."""
    ago = _AGO.fullmatch(value.strip())
    if ago:
        return datetime.now(UTC) - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a time (2026-12-01T09:00) nor an age (90m, 2h, 3d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.argument("query")
@click.option("--session", help="Only this session.")
@click.option("--from", "sender", metavar="PEER", help="Only from this peer (name or client id).")
@click.option("--since", metavar="WHEN", help="Only newer: an age (90m, 2h, 3d) or an ISO time.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@json_option
@pass_app
def search(
    app: App,
    query: str,
    session: str | None,
    sender: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Search the messages you may read; best matches first.

    QUERY: words (all must occur), OR, NOT, "a phrase", prefix*. Put words with punctuation in
    double quotes: '"kill-9"'.
    """
    results = app.client.search(
        query,
        session=session,
        sender=app.resolve([sender])[0] if sender else None,
        since=parse_since(since) if since else None,
        limit=limit,
    )
    if as_json:
        echo_json(results.model_dump(mode="json"))
        return
    if not results.hits:
        click.echo(f"Nothing you may read matches {results.query!r}.")
        return
    for hit in results.hits:
        found_in = f"  [file: {visible(hit.file)}]" if hit.file else ""
        click.echo(
            f"#{hit.id}  {hit.session}  {app.who(hit.sender)}  {format_time(hit.created_at)}"
            f"{found_in}"
        )
        click.echo(f"    {visible(' '.join(hit.snippet.split()))}")
    if results.more:
        click.echo(f"(more match: raise --limit above {limit}, or narrow the query)")

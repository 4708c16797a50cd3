"""``agent-relay send`` and ``agent-relay tail``: posting and reading a session's messages.

How ``tail`` moves the cursor (``cursors/<session>.txt``):

- it starts after the cursor, or after ``--since ID``, or, with neither, after your read
  position on the relay;
- it prints every message it is given, your own included, and after each page moves the cursor to
  the last id it printed; the cursor never moves backwards (``--since`` re-reads without losing
  your place);
- ``send`` never moves the cursor: a reply that reached the relay just before your own message has
  a smaller id than it, and moving the cursor to your message would skip that reply unseen;
- your read position on the relay stays where it is unless ``--mark-read`` is given, because a
  Claude Code agent that uses the same client id counts its unread messages from it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from relay_client.cli.app import App, echo_json, json_option, pass_app
from relay_client.cli.durations import checked_deadlines, deadline_options
from relay_client.cli.render import format_duration, message_text, visible
from relay_client.transport import FOLLOW_MAX_DELAY_S, Backoff, JsonClient, is_outage
from relay_core import InvalidInput, RelayError, wire

if TYPE_CHECKING:
    from relay_core import Message


def read_text_argument(text: str) -> str:
    """TEXT as given, or standard input for ``-`` (without its final line break)."""
    if text == "-":
        text = sys.stdin.read().removesuffix("\n")
    return text


def recipients_option(function: click.decorators.FC) -> click.decorators.FC:
    """``--to PEER``, repeatable: send only to these participants."""
    return click.option(
        "--to",
        "recipients",
        multiple=True,
        metavar="PEER",
        help="Deliver only to this participant (peer name, client id or @role); repeatable.",
    )(function)


def reply_option(function: click.decorators.FC) -> click.decorators.FC:
    """``--reply-to ID``: the message this answers."""
    return click.option(
        "--reply-to", type=click.IntRange(min=1), help="Id of the message this answers."
    )(function)


@click.command()
@click.argument("session")
@click.argument("text")
@recipients_option
@reply_option
@deadline_options
@json_option
@pass_app
def send(
    app: App,
    session: str,
    text: str,
    recipients: tuple[str, ...],
    reply_to: int | None,
    reply_by_s: float | None,
    ttl_s: float | None,
    as_json: bool,
) -> None:
    """Send TEXT to SESSION (TEXT `-` reads standard input).

    A text over 64 KiB reaches readers as an excerpt with the whole text attached
    (message.txt). `agent-relay message status ID` shows who got and read it.

    With --json, prints the sent message as `tail --json` prints messages.
    """
    text = read_text_argument(text)
    if not text.strip():
        raise InvalidInput("the message is empty")
    deadlines = checked_deadlines(reply_by_s, ttl_s)
    receipt, lean = post_message(app, session, text, app.resolve(recipients), reply_to, deadlines)
    if as_json:
        # The relay answers a post with a receipt; the message itself, as every reader sees it,
        # is one more GET (never a second post).
        echo_json(lean.get_message(receipt.id) if lean else app.client.get_message(receipt.id))
        return
    click.echo(f"Sent #{receipt.id} to {receipt.session}.")
    for role in receipt.held_for:
        click.echo(f"Nobody holds @{role} yet: its next holder gets this message.")
    if receipt.offline:
        names = ", ".join(app.who(client_id) for client_id in receipt.offline)
        click.echo(f"Offline now (not seen in the last minute): {names}; it waits for them.")


@dataclass(frozen=True)
class Receipt:
    """What the relay answered a post: the message's id and session, the roles it waits for
    (nobody holds them) and the recipients that are offline."""

    id: int
    session: str
    held_for: list[str]
    offline: list[str]


def post_message(
    app: App,
    session: str,
    text: str,
    to: Sequence[str],
    reply_to: int | None,
    deadlines: Mapping[str, float | None] | None = None,
) -> tuple[Receipt, JsonClient | None]:
    """Post one message: the relay's receipt, and the lean client it went through (if any).

    An ``http://`` relay gets it through :class:`~relay_client.transport.JsonClient`, which
    loads neither requests nor the models: skills run ``send`` for every message, and that
    roughly halves its start (docs/performance.md, figure 10). An ``https://`` relay gets it
    through RelayClient, which holds the TLS settings. Both follow the same rules.
    """
    lean = JsonClient.for_config(app.config)
    if lean is None:
        sent = app.client.send_message(session, text, to=to, reply_to=reply_to, deadlines=deadlines)
        return Receipt(sent.id, sent.session, list(sent.held_for), list(sent.offline)), None
    answer: dict[str, Any] = lean.send_message(
        session, text, to=to, reply_to=reply_to, deadlines=deadlines
    )
    receipt = Receipt(
        id=answer["id"],
        session=str(answer.get("session", session)),
        held_for=[str(role) for role in answer.get("held_for", [])],
        offline=[str(client) for client in answer.get("offline", [])],
    )
    return receipt, lean


@click.command()
@click.argument("session")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new messages until ^C.")
@click.option(
    "--since",
    type=click.IntRange(min=0),
    metavar="ID",
    help="Print messages after this id instead of after the cursor.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0, wire.MAX_WAIT_S, min_open=True),
    metavar="S",
    help=f"Wait up to S seconds for a message (--follow waits {wire.DEFAULT_WAIT_S:g} s a round).",
)
@click.option("--mark-read", is_flag=True, help="Also move your read position on the relay.")
@json_option
@pass_app
def tail(
    app: App,
    session: str,
    follow: bool,
    since: int | None,
    wait_s: float | None,
    mark_read: bool,
    as_json: bool,
) -> None:
    """Print SESSION's new messages and move the cursor past them.

    With --json, each message is one JSON object per line. With --follow, a relay that goes
    away (restart, network cut) is waited for, with pauses growing to 30 s, and reading carries
    on after the last printed message once it is back; stderr says so once per outage.
    """
    after = since if since is not None else app.cursors.get(session)
    wait = wait_s if wait_s is not None else (wire.DEFAULT_WAIT_S if follow else None)
    printed: int | None = None
    outage = _Outage() if follow else None
    try:
        while True:
            try:
                page = app.client.read_messages(
                    session, after=after, limit=wire.MAX_PAGE_SIZE, wait_s=wait
                )
            except RelayError as exc:
                if outage is None or not is_outage(exc):
                    raise
                outage.wait(exc)
                continue
            if outage is not None:
                outage.over(after)
            for message in page.messages:
                with _interrupt_deferred():
                    _print_message(app, message, as_json)
                    printed = message.id
            if page.messages:
                after = page.messages[-1].id
                app.cursors.advance(session, after)
                if mark_read:
                    _mark_read(app, session, after, follow)
            elif page.next_after_id is not None:
                after = page.next_after_id
            if not (page.has_more or follow):
                break
    except KeyboardInterrupt:
        pass  # ^C is how --follow ends
    finally:
        # Also after ^C or an error mid-page: whatever was printed counts as seen.
        if printed is not None:
            app.cursors.advance(session, printed)


class _Outage:
    """A follower's view of the relay going away: pauses, and one line on stderr each way."""

    def __init__(self) -> None:
        self.backoff = Backoff()
        self.since: float | None = None

    def wait(self, error: RelayError) -> None:
        """Note the failed attempt (saying so on the first) and pause before the next."""
        if self.since is None:
            self.since = time.monotonic()
            click.echo(
                f"agent-relay: relay unavailable ({visible(error.message)}); retrying, "
                f"waiting up to {FOLLOW_MAX_DELAY_S:g} s between attempts (Ctrl-C to stop)",
                err=True,
            )
        time.sleep(self.backoff.next_delay())

    def over(self, after: int | None) -> None:
        """The relay answered: say so if it had been away."""
        if self.since is None:
            return
        away = format_duration(time.monotonic() - self.since)
        where = f" after #{after}" if after is not None else ""
        click.echo(f"agent-relay: reconnected after {away}; reading on{where}", err=True)
        self.since = None
        self.backoff.reset()


def _mark_read(app: App, session: str, up_to: int, follow: bool) -> None:
    """Move the read position; a follower skips it while the relay is away (the next page
    moves it further anyway)."""
    try:
        app.client.mark_read(session, up_to)
    except RelayError as exc:
        if not (follow and is_outage(exc)):
            raise


@contextlib.contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Hold ^C back while a message is printed and recorded, so the cursor matches the screen.

    A ^C that arrives meanwhile is delivered as soon as the block ends. Where signals cannot be
    masked (Windows) a ^C right after a message shows it again next time; it never skips one.
    """
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = mask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


def _print_message(app: App, message: Message, as_json: bool) -> None:
    if as_json:
        echo_json(message, compact=True)
    else:
        # On a terminal, long lines are wrapped (and indented) here, not by the terminal.
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        click.echo(message_text(message, app, width))

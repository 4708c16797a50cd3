"""``agent-relay send-file`` and ``agent-relay fetch-file``: files through the relay's store."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

import click

from relay_client.cli.app import App, echo_json, json_option, pass_app
from relay_client.cli.durations import checked_deadlines, deadline_options
from relay_client.cli.messages import recipients_option, reply_option
from relay_client.cli.progress import TransferBar
from relay_client.cli.render import format_bytes, visible
from relay_core import Attachment, Conflict, InvalidInput, NotFound, safe_filename

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


@click.command("send-file")
@click.argument("session")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--note", help="The message text (default: the file's name and size).")
@click.option("--mime", help="Media type (default: guessed from the file name).")
@recipients_option
@reply_option
@deadline_options
@json_option
@pass_app
def send_file(
    app: App,
    session: str,
    path: Path,
    note: str | None,
    mime: str | None,
    recipients: tuple[str, ...],
    reply_to: int | None,
    reply_by_s: float | None,
    ttl_s: float | None,
    as_json: bool,
) -> None:
    """Upload PATH (unless the relay already has its bytes) and send it to SESSION.

    With --json, prints {"message": the sent message, "uploaded": false when the relay already
    had the bytes}; the message's attachment has the file's sha256 and size.
    """
    filename = safe_filename(path.name)
    if filename != path.name:
        click.echo(
            f"note: '{visible(path.name)}' is sent as '{visible(filename)}', "
            "a name Windows, macOS and Linux can all save",
            err=True,
        )
    deadlines = checked_deadlines(reply_by_s, ttl_s)  # fail before a long upload, not after it
    to = app.resolve(recipients)
    app.client.get_session(session)
    with TransferBar(f"uploading {filename}", enabled=not as_json) as bar:
        upload = app.client.upload_file(path, progress=bar)
    attachment = {
        "sha256": upload.sha256,
        "filename": filename,
        "mime": mime or mimetypes.guess_type(filename)[0],
    }
    text = note or f"{filename} ({format_bytes(upload.size)})"
    sent = app.client.send_message(
        session,
        text,
        to=to,
        reply_to=reply_to,
        attachments=[attachment],
        deadlines=deadlines,
    )
    if as_json:
        # The sent message as `tail --json` prints it, and whether its bytes had to travel.
        echo_json({"message": app.client.get_message(sent.id), "uploaded": upload.uploaded})
        return
    how = "uploaded" if upload.uploaded else "the relay already had it"
    click.echo(
        f"Sent #{sent.id} to {sent.session} with {filename} ({format_bytes(upload.size)}, {how})."
    )


@click.command("fetch-file")
@click.argument("target", metavar="(SHA256 | MESSAGE_ID)")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="File to write, or a directory (default: the attachment's name in this directory).",
)
@click.option("--force", is_flag=True, help="Replace a file that exists.")
@json_option
@pass_app
def fetch_file(app: App, target: str, output: Path | None, force: bool, as_json: bool) -> None:
    """Download a file by its SHA-256, or every file attached to a message by its id.

    The download resumes after an interruption and its digest is checked before the file
    appears; an existing file is never replaced without --force.
    """
    plan = _plan(app, target, output)
    for _, dest in plan:
        if dest.exists() and not force:
            raise Conflict(f"{dest} already exists: pass --force to replace it")
    done = []
    for sha256, dest in plan:
        with TransferBar(f"downloading {dest.name}", enabled=not as_json) as bar:
            download = app.client.download_blob(sha256, dest, overwrite=force, progress=bar)
        done.append(download)
        if not as_json:
            resumed = (
                f", resumed at {format_bytes(download.resumed_from)}"
                if download.resumed_from
                else ""
            )
            click.echo(f"Saved {dest} ({format_bytes(download.size)}, sha256 verified{resumed}).")
    if as_json:
        echo_json(
            {
                "files": [
                    {
                        "path": str(d.path),
                        "sha256": d.sha256,
                        "size": d.size,
                        "resumed_from": d.resumed_from,
                    }
                    for d in done
                ]
            }
        )


def _plan(app: App, target: str, output: Path | None) -> list[tuple[str, Path]]:
    """The (digest, destination) pairs to download for TARGET and -o."""
    if _DIGEST_RE.fullmatch(target):
        return [(target, _destination(output, target))]
    if not target.isascii() or not target.isdigit():
        raise InvalidInput(
            f"{target!r} is neither a SHA-256 digest (64 lowercase hex characters) nor a message id"
        )
    message = app.client.get_message(int(target))
    if not message.attachments:
        raise NotFound(f"message #{message.id} has no attached files")
    if len(message.attachments) == 1:
        attachment = message.attachments[0]
        return [(attachment.sha256, _destination(output, _local_name(attachment)))]
    directory = output or Path.cwd()
    if not directory.is_dir():
        raise InvalidInput(
            f"message #{message.id} has {len(message.attachments)} files: -o must name a directory"
        )
    return [(a.sha256, directory / _local_name(a)) for a in message.attachments]


def _destination(output: Path | None, name: str) -> Path:
    if output is None:
        return Path.cwd() / name
    return output / name if output.is_dir() else output


def _local_name(attachment: Attachment) -> str:
    """The attachment's name, or a safe one for it: it can only name a file in the target folder.

    The relay refuses unsafe names today, but messages stored earlier (or by an older relay)
    may carry one such as ``../x`` or ``nul.txt``; those are saved under a name that every
    platform takes, and the command says so.
    """
    name = safe_filename(attachment.filename)
    if name != attachment.filename:
        click.echo(
            f"note: the attachment's name '{visible(attachment.filename)}' is not safe to save "
            f"here; saving it as '{visible(name)}'",
            err=True,
        )
    return name

"""``agent-relay task give|list|show|claim|update|wait``: hand a task off and work it."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import click

from relay_client.cli.app import App, echo_json, echo_table, json_option, pass_app
from relay_client.cli.render import format_bytes, format_time, visible, visible_lines
from relay_core import safe_filename
from relay_core.tasks import DEFAULT_LEASE_S, TASK_STATES, Task
from relay_core.wire import DEFAULT_WAIT_S, MAX_WAIT_S

STATE = click.Choice(TASK_STATES)
files_option = click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="A file to attach (uploaded first); repeatable.",
)


@click.group()
def task() -> None:
    """Tasks handed off in a session: give, claim, work, answer, wait (docs/tasks.md)."""


def _attachments(app: App, files: tuple[Path, ...]) -> list[dict[str, Any]]:
    """Upload each file (unless the relay has its bytes); the attachments to send."""
    attachments = []
    for path in files:
        filename = safe_filename(path.name)
        upload = app.client.upload_file(path)
        mime = mimetypes.guess_type(filename)[0]
        attachments.append({"sha256": upload.sha256, "filename": filename, "mime": mime})
    return attachments


def _show(app: App, task: Task, as_json: bool, done: str = "") -> None:
    if as_json:
        echo_json(task)
        return
    if done:
        click.echo(done)
    click.echo(task_text(app, task))


def task_text(app: App, task: Task) -> str:
    """A task for people: its head, details, files and history."""
    to = app.who(task.assignee) if task.assignee else "anyone"
    lines = [
        f"Task {task.id}: {visible(task.title)}  [{task.state}]",
        f"session {task.session} · given by {app.who(task.giver)} to {to}"
        + (f" · held by {app.who(task.claimed_by)}" if task.claimed_by else ""),
    ]
    if task.lease_expires_at:
        lines.append(f"claim lapses without activity at {format_time(task.lease_expires_at)}")
    lines += ["  " + line for line in visible_lines(task.details)] if task.details else []
    for label, files in (("input", task.inputs), ("result", task.results)):
        lines += [
            f"{label}: {visible(f.filename)} ({format_bytes(f.size)}) {f.sha256}" for f in files
        ]
    lines.append("history:")
    for event in task.history:
        change = f"{event.from_state}→{event.state}" if event.from_state else event.state
        note = f": {visible(event.note)}" if event.note else ""
        who = "the relay" if event.role == "relay" else app.who(event.by)
        lines.append(f"  {format_time(event.at)}  {change} by {who}{note}")
    return "\n".join(lines)


@task.command("give")
@click.argument("session")
@click.argument("title")
@click.option("--details", default="", help="What to do, and what done looks like.")
@click.option(
    "--to", "assignee", metavar="PEER", help="The one who may claim it (default: anyone)."
)
@files_option
@json_option
@pass_app
def task_give(
    app: App,
    session: str,
    title: str,
    details: str,
    assignee: str | None,
    files: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Hand off a task titled TITLE in SESSION, with input files."""
    to = app.resolve([assignee])[0] if assignee else None
    attachments = _attachments(app, files)
    given = app.client.handoff_task(
        session, title, details=details, assignee=to, attachments=attachments
    )
    _show(app, given, as_json, f"Gave task {given.id}; `agent-relay task wait {given.id}` waits.")


@task.command("list")
@click.option("--session", help="Only this session's tasks.")
@click.option("--state", type=STATE, help="Only tasks in this state.")
@click.option("--mine", is_flag=True, help="Only tasks you gave, hold or are assigned.")
@json_option
@pass_app
def task_list(app: App, session: str | None, state: str | None, mine: bool, as_json: bool) -> None:
    """List tasks in your sessions, most recently changed first."""
    found = app.client.list_tasks(session=session, state=state, mine=mine)
    if as_json:
        echo_json({"tasks": found})
    elif not found:
        click.echo("No tasks.")
    else:
        echo_table(
            ["ID", "STATE", "SESSION", "GIVER", "FOR", "HELD BY", "UPDATED", "TITLE"],
            [
                [
                    str(t.id),
                    t.state,
                    t.session,
                    app.who(t.giver),
                    app.who(t.assignee) if t.assignee else "anyone",
                    app.who(t.claimed_by) if t.claimed_by else "-",
                    format_time(t.updated_at),
                    t.title,
                ]
                for t in found
            ],
        )


@task.command("show")
@click.argument("task_id", type=int)
@click.option(
    "--format",
    "form",
    type=click.Choice(["relay", "a2a"]),
    default="relay",
    help="a2a: print the task as an A2A Task object (JSON).",
)
@json_option
@pass_app
def task_show(app: App, task_id: int, form: str, as_json: bool) -> None:
    """Show a task with its files and history."""
    if form == "a2a":
        echo_json(app.client.get_task_a2a(task_id))
        return
    _show(app, app.client.get_task(task_id), as_json)


@task.command("claim")
@click.argument("task_id", type=int)
@click.option(
    "--lease",
    "lease_s",
    type=int,
    default=DEFAULT_LEASE_S,
    show_default=True,
    help="Seconds without activity on the relay before the claim lapses.",
)
@json_option
@pass_app
def task_claim(app: App, task_id: int, lease_s: int, as_json: bool) -> None:
    """Take a submitted task: it becomes working, and yours."""
    claimed = app.client.claim_task(task_id, lease_s=lease_s)
    _show(app, claimed, as_json, f"Claimed task {task_id}.")


@task.command("update")
@click.argument("task_id", type=int)
@click.argument("state", type=STATE, required=False)
@click.option("--note", default="", help="What to say with the change (a question, a result).")
@files_option
@json_option
@pass_app
def task_update(
    app: App,
    task_id: int,
    state: str | None,
    note: str,
    files: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Move a task to STATE (or, without one, add a note), with result files.

    The holder: input-required, completed, failed. The giver: working (to answer), canceled.
    """
    attachments = _attachments(app, files)
    moved = app.client.update_task(task_id, state, note=note, attachments=attachments)
    _show(app, moved, as_json, f"Task {task_id} is {moved.state}.")


@task.command("wait")
@click.argument("task_id", type=int)
@click.option(
    "--until", "until", multiple=True, type=STATE, help="A state to wait for; repeatable."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0, MAX_WAIT_S),
    default=DEFAULT_WAIT_S,
    show_default=True,
    help="Seconds to wait at most.",
)
@json_option
@pass_app
def task_wait(
    app: App, task_id: int, until: tuple[str, ...], timeout_s: float, as_json: bool
) -> None:
    """Wait until a task needs you (input-required) or ends, or for the --until states.

    A wait that runs out first says so ("Still STATE after N s."; with --json, "timed_out").
    """
    waited = app.client.wait_for_task(task_id, until=until, timeout_s=timeout_s)
    if as_json:
        echo_json(waited)
        return
    if waited.timed_out:
        click.echo(f"Still {waited.task.state} after {timeout_s:g} s.")
    click.echo(task_text(app, waited.task))

"""Upkeep of the relay's data: ``gc``, ``check``, ``backup``, ``restore`` and ``migrate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from relay_server.cli.group import config_options, load

if TYPE_CHECKING:
    from relay_server.maintenance import BackupReport, CheckReport

    # Newer clicks make ParamType generic (value, input); the relay accepts click 8.2, whose
    # ParamType cannot be subscripted at run time.
    _SecondsParam = click.ParamType[float, Any]
else:
    _SecondsParam = click.ParamType


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Duration(_SecondsParam):
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


@click.command()
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


@click.command()
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


@click.command()
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


@click.command()
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


@click.command()
@config_options
@click.option(
    "--to",
    "url",
    required=True,
    metavar="postgresql://...",
    help="The PostgreSQL database to copy this relay into.",
)
def migrate(config_file: Path | None, data_dir: Path | None, url: str) -> None:
    """Copy this SQLite relay's database into PostgreSQL, verified by counts and checksums.

    Resumable: run it again after an interruption and it carries on, skipping what is there.
    Stop the relay before the last run (rows changed after being copied are not copied again).
    Files stay in the blobs directory, which the PostgreSQL relay uses as it is. Exit status 1
    when a table differs.
    """
    from relay_server.maintenance.migrating import migrate_to_postgres

    config = load(config_file, data_dir=data_dir)
    report = migrate_to_postgres(config.database_path, url, click.echo)
    rows = sum(t.target_rows for t in report.tables)
    copied = sum(t.copied for t in report.tables)
    if not report.ok:
        differ = ", ".join(t.name for t in report.tables if not t.same)
        raise click.ClickException(f"these tables differ after the copy: {differ}")
    click.echo(
        f"migrated: {len(report.tables)} table(s), {rows} row(s) in PostgreSQL"
        f" ({copied} copied by this run), counts and checksums the same"
    )

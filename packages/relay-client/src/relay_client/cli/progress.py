"""Progress of a transfer on stderr: a bar on a terminal, a line now and then anywhere else.

An agent runs ``send-file`` and ``fetch-file`` with stderr going to a pipe or a log, where a bar
is noise; a transfer of several gigabytes that prints nothing there looks hung. Off a terminal,
a line like ``downloading big.iso: 1.2 GiB of 4.0 GiB (30%), 85.3 MiB/s`` is printed every
:data:`REPORT_EVERY_S` seconds or every :data:`REPORT_EVERY_PERCENT` percent, whichever comes
first, and one when the transfer ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, TextIO

import click

from relay_client.cli.render import format_bytes, format_duration

REPORT_EVERY_S: Final = 5.0
REPORT_EVERY_PERCENT: Final = 10


class TransferBar:
    """Fed by RelayClient progress callbacks (bytes done, total or None)."""

    def __init__(
        self,
        label: str,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.enabled = enabled
        self._stream = stream or sys.stderr
        self._terminal = self._stream.isatty()
        self._clock = clock
        self._bar: Any = None
        self._shown = 0
        self._started: float | None = None
        self._last_time = 0.0
        self._last_step = 0
        self._done = 0
        self._total: int | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self._terminal:
            self._update_bar(done, total)
        else:
            self._update_lines(done, total)

    def _update_bar(self, done: int, total: int | None) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=total or 0,
                label=self.label,
                file=self._stream,
                show_pos=False,
                show_percent=True,
            )
            self._bar.__enter__()
        self._bar.update(done - self._shown)
        self._shown = done

    def _update_lines(self, done: int, total: int | None) -> None:
        now = self._clock()
        self._done, self._total = done, total
        step = done * 100 // total // REPORT_EVERY_PERCENT if total else None
        if self._started is None:
            self._started = now
            self._report(now)
        elif (step is not None and step > self._last_step) or (
            now - self._last_time >= REPORT_EVERY_S
        ):
            self._report(now)
        if step is not None:
            self._last_step = max(step, self._last_step)

    def _report(self, now: float) -> None:
        self._last_time = now
        elapsed = now - (self._started or now)
        rate = f", {format_bytes(int(self._done / elapsed))}/s" if elapsed > 0 else ""
        if self._total:
            amount = (
                f"{format_bytes(self._done)} of {format_bytes(self._total)} "
                f"({self._done * 100 // self._total}%)"
            )
        else:
            amount = format_bytes(self._done)
        click.echo(f"{self.label}: {amount}{rate}", file=self._stream)

    def __enter__(self) -> TransferBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, traceback)
        elif self._started is not None and exc_type is None:
            elapsed = self._clock() - self._started
            rate = f", {format_bytes(int(self._done / elapsed))}/s" if elapsed > 0 else ""
            click.echo(
                f"{self.label}: done, {format_bytes(self._done)} in "
                f"{format_duration(elapsed)}{rate}",
                file=self._stream,
            )

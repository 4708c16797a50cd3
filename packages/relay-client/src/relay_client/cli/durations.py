"""Durations on the command line: ``90``, ``90s``, ``10m``, ``2h``, ``1d``, ``1h30m``."""

from __future__ import annotations

import re
from typing import Any, Final

import click

from relay_core import wire

_PART: Final = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType[float]):
    """Seconds, from a number with an optional unit (s, m, h, d), or several (``1h30m``)."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        parts = _PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration: use 90s, 10m, 2h, 1d or 1h30m", param, ctx)
        seconds = sum(float(number) * _SECONDS[unit] for number, unit in parts)
        if not 0 < seconds <= wire.MAX_DEADLINE_S:
            limit = wire.MAX_DEADLINE_S // 86400
            self.fail(f"{value!r} must be more than 0 and at most {limit} days", param, ctx)
        return seconds


def deadline_options(function: click.decorators.FC) -> click.decorators.FC:
    """``--reply-by DURATION`` and ``--ttl DURATION``, for commands that send a message."""
    function = click.option(
        "--ttl",
        "ttl_s",
        type=Duration(),
        metavar="DURATION",
        help="Expire it after DURATION for those who have not read it (told if nobody did).",
    )(function)
    return click.option(
        "--reply-by",
        "reply_by_s",
        type=Duration(),
        metavar="DURATION",
        help="If someone has not read it within DURATION, the relay tells you who (e.g. 10m).",
    )(function)


def checked_deadlines(reply_by_s: float | None, ttl_s: float | None) -> dict[str, float | None]:
    """The deadlines a send carries, refused here when the relay would refuse them: before a
    file's upload, not after it."""
    if wire.deadlines_problem(reply_by_s, ttl_s) is not None:
        raise click.UsageError(
            "--reply-by must not be longer than --ttl: nobody could read the message by then"
        )
    return {"reply_by_s": reply_by_s, "ttl_s": ttl_s}

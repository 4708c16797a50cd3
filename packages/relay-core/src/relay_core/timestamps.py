"""UTC timestamps with millisecond precision, the only kind agent-relay stores or sends.

On the wire a timestamp is ISO 8601 with milliseconds and ``Z`` (``2026-11-25T11:52:11.123Z``);
in storage it is an integer count of milliseconds since the Unix epoch.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return _exact_ms(moment)


def _exact_ms(moment: datetime) -> int:
    # timestamp() goes through a float; integer arithmetic keeps the millisecond exact.
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of a millisecond count."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000  # exact, and a tenth of a datetime's cost


def format_timestamp(moment: datetime) -> str:
    """``2026-11-25T11:52:11.123Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _normalise(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (use UTC, e.g. '...Z')")
    return from_ms(_exact_ms(moment))


Timestamp = Annotated[
    datetime,
    AfterValidator(_normalise),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
"""A pydantic field type: aware, UTC, truncated to milliseconds, ISO with ``Z`` in JSON."""

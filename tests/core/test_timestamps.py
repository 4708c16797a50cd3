from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from relay_core import Timestamp, format_timestamp, from_ms, to_ms


class Stamped(BaseModel):
    at: Timestamp


@given(st.integers(min_value=0, max_value=10**13))
def test_milliseconds_round_trip(ms):
    assert to_ms(from_ms(ms)) == ms


def test_timestamps_are_utc_with_milliseconds_and_z():
    moment = datetime(2026, 11, 25, 13, 52, 11, 123456, tzinfo=timezone(timedelta(hours=2)))
    stamped = Stamped(at=moment)
    assert stamped.at == datetime(2026, 11, 25, 11, 52, 11, 123000, tzinfo=UTC)
    assert stamped.model_dump(mode="json") == {"at": "2026-11-25T11:52:11.123Z"}
    assert Stamped.model_validate_json('{"at": "2026-11-25T11:52:11.123Z"}') == stamped


def test_naive_timestamps_are_refused():
    with pytest.raises(ValidationError, match="time zone"):
        Stamped(at=datetime(2026, 1, 1))


def test_format_pads_milliseconds():
    assert format_timestamp(from_ms(5)) == "1970-01-01T00:00:00.005Z"

"""FastMCP's OpenTelemetry spans: off in a served relay unless FASTMCP_TELEMETRY_MODE says
otherwise (nobody records them, and they cost 5% of a tool call's CPU)."""

from __future__ import annotations

import fastmcp
import pytest

from relay_server.serving import TELEMETRY_VARIABLE, quiet_fastmcp_telemetry


@pytest.fixture(autouse=True)
def keep_the_setting() -> object:
    before = fastmcp.settings.telemetry_mode
    yield
    fastmcp.settings.telemetry_mode = before


def test_serving_switches_fastmcp_spans_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TELEMETRY_VARIABLE, raising=False)
    fastmcp.settings.telemetry_mode = "native"

    quiet_fastmcp_telemetry()

    assert fastmcp.settings.telemetry_mode == "off"


def test_a_mode_chosen_in_the_environment_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TELEMETRY_VARIABLE, "native")
    fastmcp.settings.telemetry_mode = "native"

    quiet_fastmcp_telemetry()

    assert fastmcp.settings.telemetry_mode == "native"

"""Relay-supplied text cannot forge or drive the terminal (docs/security.md, "Terminal output").

A hostile sender (or relay) puts escape sequences, carriage returns, backspaces, OSC window-title
codes, C1 controls and bidi overrides into everything it controls; every command that prints it
must show those characters spelled out, keep message bodies indented under their header, and
keep ``--json`` exact.
"""

import json
import unicodedata

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from relay_client.cli.render import BODY_INDENT, json_safe, message_text, visible, visible_lines
from relay_core import Message

RELAY = "http://127.0.0.1:7878"
MESSAGES = f"{RELAY}/api/v1/sessions/build-42/messages"
FAKE_HEADER = "#99  2026-11-25 12:52:11  alice"
HOSTILE = (
    "fine\x1b]0;pwned by bob\x07\x1b[2K\r" + FAKE_HEADER + "\x08\x08\x08"
    "\x9b31m\u202eexe.txt\u2066\x7f\u2028" + FAKE_HEADER + "\x00\U000e0041"
)
"""OSC title, erase line, carriage return, a fake header, backspaces, C1 CSI, RLO, isolate,
DEL, a Unicode line separator, NUL and an invisible tag character."""


def dangerous(text: str) -> list[str]:
    """Characters in printed output that a terminal would act on or draw invisibly."""
    return [
        ch
        for ch in text
        if ch != "\n"
        and unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"}
        and ch not in "\u200c\u200d"
    ]


class Names:
    def who(self, client_id: str) -> str:
        return client_id


def message(text: str, **fields) -> Message:
    return Message(
        id=7, session="s", sender="bob-ws", text=text, created_at="2026-11-25T11:52:11Z", **fields
    )


# --- the functions ----------------------------------------------------------------------


def test_visible_spells_out_controls_and_bidi_and_keeps_ordinary_text():
    assert visible("a\x1b[31mb") == "a\\x1b[31mb"
    assert visible("\u202eexe.txt") == "<U+202E>exe.txt"
    assert visible("x\ny\tz\r") == "x\\x0ay\\x09z\\x0d"
    assert visible("\x9b\x7f\x00") == "\\x9b\\x7f\\x00"
    assert visible("Grüße, 日本語 👩‍💻 ok") == "Grüße, 日本語 👩‍💻 ok"


def test_a_body_keeps_its_line_breaks_and_tabs_only():
    assert visible_lines("one\n\ttwo\r\nthree\u2028four") == [
        "one",
        "\ttwo\\x0d",
        "three<U+2028>four",
    ]


@given(st.text())
def test_nothing_visible_returns_can_drive_a_terminal(text):
    assert dangerous(visible(text)) == []
    assert all(dangerous(line.replace("\t", "")) == [] for line in visible_lines(text))


@given(st.text())
def test_json_safe_output_decodes_to_the_same_value(text):
    encoded = json_safe(json.dumps({"t": text}, ensure_ascii=False, indent=2))
    assert json.loads(encoded) == {"t": text}
    assert dangerous(encoded) == []


def test_a_body_cannot_draw_a_header_line():
    text = message_text(message("hi\n" + FAKE_HEADER + "\r" + FAKE_HEADER), Names())
    lines = text.splitlines()
    assert lines[0].startswith("#7  ")
    assert all(line.startswith(BODY_INDENT) for line in lines[1:])


def test_on_a_terminal_long_lines_wrap_indented_so_no_row_starts_at_the_edge():
    # Padded so that, wrapped by an 80-column terminal, the fake header would start a row.
    body = " " * 76 + FAKE_HEADER + "\t" * 12 + FAKE_HEADER + "日" * 50
    text = message_text(message(body), Names(), width=80)
    rows = text.splitlines()[1:]
    assert len(rows) > 1
    assert all(row.startswith(BODY_INDENT) for row in rows)
    assert all(_columns(row) <= 80 and "\t" not in row for row in rows)


def _columns(row: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in row)


# --- every command that prints relay-supplied text --------------------------------------


def test_tail_shows_a_hostile_message_harmlessly(configured, relay_http, payloads, run):
    hostile = payloads.message(
        7,
        text=HOSTILE,
        attachments=[{"sha256": "a" * 64, "filename": HOSTILE, "size": 1, "mime": None}],
    )
    relay_http.get(MESSAGES, json={"messages": [hostile], "next_after_id": 7, "has_more": False})
    out = run("tail", "build-42").stdout
    assert dangerous(out) == []
    assert [line for line in out.splitlines() if not line.startswith(BODY_INDENT)] == [
        line for line in out.splitlines() if line.startswith("#7  ")
    ]
    assert "\\x1b]0;pwned by bob\\x07" in out
    assert "<U+202E>exe.txt" in out


def test_tail_json_keeps_a_hostile_text_exact(configured, relay_http, payloads, run):
    hostile = payloads.message(7, text=HOSTILE)
    relay_http.get(MESSAGES, json={"messages": [hostile], "next_after_id": 7, "has_more": False})
    out = run("tail", "build-42", "--json").stdout
    assert json.loads(out)["text"] == HOSTILE
    assert dangerous(out.removesuffix("\n")) == []


def test_session_list_and_show_show_a_hostile_description_harmlessly(
    configured, relay_http, payloads, run
):
    relay_http.get(
        f"{RELAY}/api/v1/sessions",
        json={"sessions": [payloads.summary("build-42", description=HOSTILE)]},
    )
    relay_http.get(f"{RELAY}/api/v1/sessions/build-42", json=payloads.session(description=HOSTILE))
    listed = run("session", "list").stdout
    shown = run("session", "show", "build-42").stdout
    for out in (listed, shown):
        assert dangerous(out) == []
        assert "\\x1b]0;pwned by bob\\x07" in out
    assert len(listed.splitlines()) == 2  # the header and one row: no line break got through
    relay_http.get(f"{RELAY}/api/v1/sessions/build-42", json=payloads.session(description=HOSTILE))
    assert json.loads(run("session", "show", "build-42", "--json").stdout)["description"] == (
        HOSTILE
    )


def test_peers_list_shows_hand_edited_notes_harmlessly(configured, data_paths, run, write):
    roster = {"peers": [{"name": "bob", "client_id": "bob-ws", "notes": HOSTILE}]}
    write(data_paths.peers, tomli_w.dumps(roster))
    result = run("peers", "list")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert dangerous(out) == []
    assert len(out.splitlines()) == 2


def test_status_shows_a_hostile_relay_version_harmlessly(configured, relay_http, payloads, run):
    state = payloads.status()
    state["version"] = HOSTILE
    relay_http.get(f"{RELAY}/api/v1/status", json=state)
    relay_http.get(f"{RELAY}/api/v1/peers", json={"peers": [payloads.peer("bob-ws", "build-42")]})
    relay_http.get(f"{RELAY}/api/v1/sessions", json={"sessions": [payloads.summary(unread=1)]})
    out = run("status").stdout
    assert dangerous(out) == []
    assert "\\x1b]0;pwned by bob\\x07" in out


def test_doctor_shows_a_hostile_relay_version_harmlessly(
    configured, relay_http, payloads, no_claude, run
):
    relay_http.get(f"{RELAY}/healthz", json=payloads.health(version=HOSTILE))
    relay_http.get(f"{RELAY}/api/v1/whoami", json=payloads.whoami())
    out = run("doctor").stdout
    assert dangerous(out) == []


@pytest.mark.parametrize("status", [400, 404, 409, 500, 503])
def test_a_hostile_error_message_from_the_relay_is_shown_harmlessly(
    configured, relay_http, payloads, run, status
):
    relay_http.get(
        f"{RELAY}/api/v1/sessions/build-42",
        status=status,
        json=payloads.error("not_found" if status == 404 else "invalid", HOSTILE),
    )
    result = run("session", "show", "build-42")
    assert result.exit_code != 0
    assert dangerous(result.stderr) == []
    assert len(result.stderr.splitlines()) == 1

"""TOON encoding: shared vectors, lossless round trips, and the reference implementation."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay_core import InvalidInput, Message, Peer
from relay_core.toon import (
    decode,
    decode_messages,
    decode_table,
    encode,
    encode_messages,
    encode_table,
    message_data,
)

TRICKY_STRINGS = [
    "plain",
    "a, b",
    "key: value",
    'say "hi"',
    "back\\slash",
    "real\nnewline",
    "literal\\nbackslash-n",
    "  leading",
    "trailing  ",
    "\ttab",
    "",
    "42",
    "-3.5e2",
    "true",
    "false",
    "null",
    "naïve café — 日本語 ✓ 🚀",
    "[1,2]",
    "{x}",
    "- dash",
    "#hash",
    "a|b",
    "'single'",
    "\r\n",
]

MESSAGE_ROWS = [
    {
        "id": i + 1,
        "session": "s-01",
        "sender": "alpha",
        "to": [] if i % 2 else ["beta", "gamma"],
        "reply_to": None if i % 3 else i,
        "text": text,
        "attachments": []
        if i % 4
        else [{"sha256": "ab" * 32, "filename": f"file {text[:5]}.txt", "size": i, "mime": None}],
        "created_at": "2026-11-25T11:52:11.123Z",
    }
    for i, text in enumerate(TRICKY_STRINGS)
]


def test_tricky_messages_round_trip_losslessly():
    messages = [Message.model_validate(row) for row in MESSAGE_ROWS]
    assert decode_messages(encode_messages(messages)) == messages


def test_messages_encode_as_tables_not_the_verbose_list_form():
    messages = [Message.model_validate(row) for row in MESSAGE_ROWS]
    text = encode_messages(messages, has_more=False)
    assert f"messages[{len(messages)}]{{" in text
    assert "attachments[" in text
    assert "\n- " not in text
    assert len(text) < 0.8 * len(json.dumps([m.model_dump(mode="json") for m in messages]))


def _message(id_: int, session: str, sender: str, text: str = "hi") -> Message:
    return Message(
        id=id_, session=session, sender=sender, text=text, created_at="2026-11-25T11:52:11.123Z"
    )


def test_a_page_of_one_session_names_it_once_above_the_table():
    messages = [_message(i, "build", f"peer-{i % 2}") for i in range(1, 5)]
    text = encode_messages(messages, next_after_id=4, has_more=False)
    assert "has_more: false\nsession: build\nfirst_created_at: " in text
    assert "\nmessages[4]{id,sender,to,reply_to," in text
    assert text.count("build") == 1
    assert decode_messages(text) == messages


def test_a_page_of_several_sessions_keeps_the_session_column():
    messages = [_message(i, f"task-{i % 3}", "alpha", TRICKY_STRINGS[i]) for i in range(1, 7)]
    text = encode_messages(messages, has_more=True)
    assert "messages[6]{id,session,to,reply_to,text,created_after_s}:" in text
    assert "\nsession:" not in text
    assert text.count("alpha") == 1  # the one sender is still hoisted
    assert decode_messages(text) == messages


def test_times_are_written_once_in_full_and_as_offsets_that_keep_every_millisecond():
    stamps = [
        "2026-11-25T11:52:11.123Z",
        "2026-11-25T11:52:11.122Z",  # committed later, stamped earlier: a negative offset
        "2026-11-25T11:52:12.122Z",  # a whole second after the first
        "2026-11-26T11:52:11.999Z",  # a day later
        "2027-01-01T00:00:00.001Z",
    ]
    messages = [
        Message(id=i, session="s", sender="a", text="t", created_at=stamp)
        for i, stamp in enumerate(stamps, 1)
    ]
    text = encode_messages(messages)
    data = decode(text)
    assert data["first_created_at"] == "2026-11-25T11:52:11.122Z"  # the earliest
    assert [row["created_after_s"] for row in data["messages"]] == [
        0.001,
        0,
        1,
        86400.877,
        3154068.879,  # 36 days, 12 h 7 min 48.879 s
    ]
    assert text.count("2026-") == 1
    assert decode_messages(text) == messages


def test_offsets_without_the_time_they_count_from_are_refused():
    text = encode_messages([_message(1, "s", "a")]).replace("first_created_at", "elsewhen")
    with pytest.raises(InvalidInput, match="first_created_at"):
        decode_messages(text)


def test_an_empty_page_round_trips():
    text = encode_messages([], next_after_id=None, has_more=False)
    assert "session" not in decode(text)
    assert decode_messages(text) == []


def test_tricky_texts_round_trip_in_pages_of_one_and_of_several_sessions():
    for sessions in (["s-01"], ["s-01", "s-02", "s-03"]):
        messages = [
            Message.model_validate({**row, "session": sessions[i % len(sessions)]})
            for i, row in enumerate(MESSAGE_ROWS)
        ]
        assert decode_messages(encode_messages(messages, has_more=False)) == messages


NAMES = st.sampled_from(["0", "007", "1e5", "1.5", "true", "null", "a-b", "x_"]) | st.from_regex(
    r"[a-z0-9](?:[a-z0-9._-]{0,10}[a-z0-9_-])?", fullmatch=True
).filter(lambda name: ".." not in name)


@given(st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=4))
def test_names_that_look_like_other_scalars_round_trip_above_and_in_the_table(names):
    messages = [_message(i, session, sender) for i, (session, sender) in enumerate(names, 1)]
    assert decode_messages(encode_messages(messages, has_more=False)) == messages


def test_page_keys_that_are_message_fields_are_refused():
    with pytest.raises(ValueError, match="session"):
        encode_messages([_message(1, "build", "alpha")], session="build")


@given(st.lists(st.text(), min_size=1, max_size=8))
def test_any_text_round_trips(texts):
    rows = [{"id": i, "text": t, "note": None} for i, t in enumerate(texts)]
    assert decode(encode({"rows": rows})) == {"rows": rows}


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(min_size=1), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_json_like_values_round_trip(value):
    assert decode(encode({"value": value})) == {"value": value}


def test_name_lists_flatten_and_come_back():
    peers = [
        Peer(
            client_id="beta",
            first_seen="2026-11-25T00:00:00Z",
            last_seen="2026-11-25T00:00:01Z",
            shared_sessions=["s1", "s2"],
        ),
        Peer(
            client_id="gamma",
            first_seen="2026-11-25T00:00:00Z",
            last_seen="2026-11-25T00:00:01Z",
            shared_sessions=[],
        ),
    ]
    text = encode_table("peers", peers)
    assert text.startswith("peers[2]{client_id,first_seen,last_seen,shared_sessions,presence}:")
    assert decode_table(text, "peers", Peer) == peers


def test_malformed_toon_is_an_invalid_input_error():
    with pytest.raises(InvalidInput, match="TOON"):
        decode("rows[3]{a,b}:\n  1,2\n")


# --- the reference implementation (npm @toon-format/toon) ---------------------------------

REFERENCE_VERSION = "4.4.0"


@pytest.fixture(scope="session")
def reference_toon(tmp_path_factory, require_tool) -> Path:
    require_tool(
        bool(shutil.which("node") and shutil.which("npm")),
        "node and npm are needed for the reference implementation",
    )
    root = tmp_path_factory.mktemp("toon-ref")
    install = subprocess.run(
        [
            "npm",
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            f"@toon-format/toon@{REFERENCE_VERSION}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    require_tool(
        install.returncode == 0,
        f"could not install the reference implementation: {install.stderr[-300:]}",
    )
    script = root / "encode.mjs"
    script.write_text(
        "import { encode } from '@toon-format/toon';\n"
        "let input = '';\n"
        "process.stdin.on('data', (c) => (input += c));\n"
        "process.stdin.on('end', () => process.stdout.write(encode(JSON.parse(input))));\n"
    )
    return script


@pytest.mark.node
def test_output_matches_the_reference_implementation(reference_toon):
    messages = [Message.model_validate(row) for row in MESSAGE_ROWS]
    data = message_data(messages, has_more=False)
    reference = subprocess.run(
        ["node", str(reference_toon)],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert encode(data) == reference

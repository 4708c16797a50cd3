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
    assert text.startswith("peers[2]{client_id,first_seen,last_seen,shared_sessions}:")
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
    from relay_core.toon import message_tables

    data = {"has_more": False, **message_tables(messages)}
    reference = subprocess.run(
        ["node", str(reference_toon)],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert encode(data) == reference

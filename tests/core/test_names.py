import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from relay_core import (
    ClientIdentity,
    CreateSessionRequest,
    InvalidInput,
    InviteRequest,
    Message,
    SessionName,
    safe_file_name,
    safe_filename,
    validate_client_id,
    validate_client_identity,
    validate_filename,
    validate_name,
)
from relay_core.names import FILENAME_MAX_BYTES, NAME_MAX_CHARS, RESERVED_CLIENT_IDS
from relay_core.wire import RELAY_SENDER

NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789._-"
valid_names = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,63}\Z").filter(
    lambda s: ".." not in s and not s.endswith(".")
)


@pytest.mark.parametrize(
    "name", ["a", "alpha", "desktop-1", "home_server.lan", "x" * NAME_MAX_CHARS, "0", "a.b-c_d"]
)
def test_valid_names_are_accepted(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "not valid"),
        ("Alpha", "did you mean 'alpha'"),
        ("-lead", "starting with a letter or digit"),
        (".hidden", "starting with a letter or digit"),
        ("a..b", "contains '..'"),
        ("a/b", "not valid"),
        ("a\\b", "not valid"),
        ("a b", "not valid"),
        ("tab\there", "not valid"),
        ("nul\x00", "not valid"),
        ("x" * (NAME_MAX_CHARS + 1), "1-64 characters"),
        ("café", "not valid"),
        ("trailing.", "not ending in '.'"),
    ],
)
def test_invalid_names_say_what_is_wrong_and_what_is_allowed(name, fragment):
    with pytest.raises(InvalidInput) as caught:
        validate_name(name, "session name")
    assert caught.value.code == "invalid"
    assert caught.value.message.startswith("session name")
    assert fragment in caught.value.message


def test_a_non_string_name_is_invalid():
    with pytest.raises(InvalidInput, match="must be a string"):
        validate_name(42)


@given(valid_names)
def test_every_valid_name_is_its_own_safe_file_name_or_prefixed(name):
    file_name = safe_file_name(name, ".txt")
    assert file_name.endswith(name + ".txt")
    assert "/" not in file_name
    assert "\\" not in file_name
    assert ".." not in file_name


@given(st.text(max_size=80))
def test_validation_accepts_exactly_the_rule(text):
    ok = (
        0 < len(text) <= 64
        and text[0] in NAME_ALPHABET[:36]
        and all(ch in NAME_ALPHABET for ch in text)
        and ".." not in text
        and not text.endswith(".")
    )
    if ok:
        assert validate_name(text) == text
    else:
        with pytest.raises(InvalidInput):
            validate_name(text)


def test_windows_reserved_names_get_a_prefix():
    assert safe_file_name("con") == "_con"
    assert safe_file_name("nul.log") == "_nul.log"
    assert safe_file_name("console") == "console"


def test_safe_file_name_refuses_unvalidated_input():
    with pytest.raises(InvalidInput):
        safe_file_name("../etc/passwd")


def test_name_types_in_models_raise_validation_errors():
    class Holder(BaseModel):
        session: SessionName

    assert Holder(session="ok").session == "ok"
    with pytest.raises(ValidationError, match="session name"):
        Holder(session="../up")


def test_no_client_may_take_the_id_the_relay_writes_its_own_messages_under():
    assert RELAY_SENDER in RESERVED_CLIENT_IDS
    with pytest.raises(InvalidInput, match="'relay' is reserved") as caught:
        validate_client_identity(RELAY_SENDER)
    assert caught.value.code == "invalid"

    class Holder(BaseModel):
        client: ClientIdentity

    with pytest.raises(ValidationError, match="reserved"):
        Holder(client=RELAY_SENDER)
    with pytest.raises(InvalidInput, match="reserved"):
        CreateSessionRequest.parse({"name": "team", "participants": ["alpha", RELAY_SENDER]})
    with pytest.raises(InvalidInput, match="reserved"):
        InviteRequest.parse({"clients": [RELAY_SENDER]})


def test_the_relays_own_id_is_still_a_valid_sender_and_near_names_are_free():
    assert validate_client_id(RELAY_SENDER) == RELAY_SENDER
    bounce = Message.parse_answer(
        {
            "id": 7,
            "session": "team",
            "sender": RELAY_SENDER,
            "to": ["alpha"],
            "reply_to": 6,
            "text": "Message #6 was not read by its reply-by time",
            "created_at": "2026-12-03T08:00:00.000Z",
        }
    )
    assert bounce.sender == RELAY_SENDER
    for name in ("relay-1", "relays", "my-relay", "relay.lan"):
        assert validate_client_identity(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "report.pdf",
        "Q3 report (final).pdf",
        "日本語.txt",
        "a" * 255,
        "é" * 127,  # 254 bytes
        "console.log",
        "nullable.txt",
        "com10.txt",
        "comx.txt",
        ".bashrc",
    ],
)
def test_ordinary_file_names_are_accepted(name):
    assert validate_filename(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "a/b", "..\\x", "/etc/passwd", "a\nb", " lead", "trail ", "a" * 256, "é" * 128],
)
def test_path_like_or_odd_file_names_are_refused(name):
    with pytest.raises(InvalidInput, match="file name"):
        validate_filename(name)


WINDOWS_UNSAFE = [
    "D:evil.bat",  # a drive-relative path on Windows
    "C:",
    "a.txt:stream",  # an NTFS alternate data stream
    "nul",
    "NUL.txt",
    "nul .txt",
    "con.tar.gz",
    "COM1.log",
    "com0",
    "lpt9.doc",
    "CONIN$",
    "conout$.txt",
    "COM\u00b9",  # superscript one
    "lpt\u00b3.txt",
    "what?.txt",
    "a*b",
    'say "hi".txt',
    "a<b>c",
    "pipe|name",
    "trailing.",
    "dots...",
    "a\u202egnp.exe",  # right-to-left override hides the real extension
    "zero\u200bwidth",
    "line\u2028sep",
]


@pytest.mark.parametrize("name", WINDOWS_UNSAFE)
def test_names_that_windows_would_misread_are_refused(name):
    with pytest.raises(InvalidInput) as caught:
        validate_filename(name)
    assert caught.value.code == "invalid"


def test_the_name_limit_is_in_utf8_bytes():
    assert validate_filename("é" * 127 + "a") == "é" * 127 + "a"  # 255 bytes
    with pytest.raises(InvalidInput, match="256 bytes of UTF-8; the limit is 255"):
        validate_filename("é" * 128)
    with pytest.raises(InvalidInput, match="bytes of UTF-8"):
        validate_filename("日" * 86)  # 86 characters, 258 bytes


@pytest.mark.parametrize("name", WINDOWS_UNSAFE)
def test_an_unsafe_stored_name_is_saved_under_a_valid_one(name):
    saved = safe_filename(name)
    assert validate_filename(saved) == saved


def test_safe_filename_says_how_it_changed_the_name():
    assert safe_filename("D:evil.bat") == "D_evil.bat"
    assert safe_filename("a.txt:stream") == "a.txt_stream"
    assert safe_filename("nul.txt") == "_nul.txt"
    assert safe_filename("COM\u00b9") == "_COM\u00b9"
    assert safe_filename("trailing.") == "trailing"
    assert safe_filename("../../etc/passwd") == ".._.._etc_passwd"
    assert safe_filename("..") == "_"


def test_a_long_name_is_shortened_on_a_character_boundary_keeping_its_extension():
    saved = safe_filename("日" * 200 + ".tar.gz")
    assert saved.endswith("日.gz")
    assert len(saved.encode("utf-8")) <= FILENAME_MAX_BYTES


@given(st.text(min_size=1, max_size=300))
def test_valid_names_are_kept_and_every_other_name_maps_to_a_valid_one(text):
    saved = safe_filename(text)
    assert validate_filename(saved) == saved
    try:
        validate_filename(text)
    except InvalidInput:
        assert saved != text
    else:
        assert saved == text


@given(st.text(min_size=1, max_size=300))
def test_every_valid_name_fits_the_byte_limit_and_has_no_windows_specials(text):
    try:
        validate_filename(text)
    except InvalidInput:
        return
    assert len(text.encode("utf-8")) <= FILENAME_MAX_BYTES
    assert not set(text) & set('<>:"/\\|?*')
    assert not text.endswith((".", " "))
    assert text.partition(".")[0].rstrip(" ").upper() not in {"CON", "PRN", "AUX", "NUL"}


# Boundaries pinned one by one: each test below fails against a mutant a mutation run left alive
# (tests/mutation/run.py names), such as a device family that loses its first or last member, a
# limit that moves by one byte, or a hint that is no longer offered.


@pytest.mark.parametrize("name", ["con", "prn", "aux", "nul", "com1", "com9", "lpt1", "lpt9"])
def test_every_family_of_windows_reserved_names_gets_a_prefix(name):
    assert safe_file_name(name) == f"_{name}"
    assert safe_file_name(f"{name}.cursor.tmp") == f"_{name}.cursor.tmp"


@pytest.mark.parametrize("name", ["com0", "lpt0", "com10", "lpt10", "com", "lpt", "com-1", "con-1"])
def test_names_just_outside_the_windows_reserved_families_are_kept(name):
    # The session-name rule reserves COM1-9 and LPT1-9, the names older Windows versions refuse.
    assert safe_file_name(name) == name


@pytest.mark.parametrize("device", ["COM0", "COM9", "LPT0", "LPT9", "CON", "CLOCK$"])
def test_every_family_of_windows_device_file_names_is_refused_and_renamed(device):
    for name in (device, device.lower() + ".txt"):
        with pytest.raises(InvalidInput, match="reserves it for a device"):
            validate_filename(name)
        assert safe_filename(name) == f"_{name}"


def test_the_lowercase_hint_is_given_for_any_character_that_lowers_to_a_valid_name():
    # KELVIN SIGN lowers to an ASCII 'k' and sorts after it: the hint must not depend on order.
    with pytest.raises(InvalidInput, match="did you mean 'kelvin'"):
        validate_name("\u212aelvin")


@pytest.mark.parametrize("name", ["a b", "a/b", "-lead", "UP/down"])
def test_no_lowercase_hint_when_lowering_would_not_make_the_name_valid(name):
    with pytest.raises(InvalidInput) as caught:
        validate_name(name)
    assert "did you mean" not in caught.value.message


def test_a_cleaned_name_of_exactly_the_byte_limit_is_kept_whole():
    # 255 bytes after '?' becomes '_': shortening it would drop the ". " before the extension.
    name = "x?" + "a" * 247 + ". .txt"
    assert len(name.encode("utf-8")) == FILENAME_MAX_BYTES
    assert safe_filename(name) == "x_" + "a" * 247 + ". .txt"


def test_a_cleaned_name_one_byte_over_the_limit_is_shortened_to_exactly_the_limit():
    assert safe_filename("x?" + "a" * 250 + ".txt") == "x_" + "a" * 249 + ".txt"
    assert safe_filename("日" * 200 + ".tar.gz") == "日" * 84 + ".gz"  # 252 + 3 bytes
    assert safe_filename("é" * 200 + ".txt") == "é" * 125 + ".txt"  # 254: no half character


def test_an_extension_of_up_to_16_bytes_is_kept_when_shortening_and_a_longer_one_is_not():
    assert safe_filename("a" * 300 + "." + "b" * 16) == "a" * 238 + "." + "b" * 16
    assert safe_filename("a" * 300 + "." + "b" * 17) == "a" * 255


def test_a_long_name_without_a_stem_or_a_dot_is_cut_as_a_whole():
    assert safe_filename("." + "b" * 300) == "." + "b" * 254
    assert safe_filename("b" * 300) == "b" * 255


def test_a_name_of_only_dots_and_spaces_is_saved_as_an_underscore():
    for name in ("...", ". .", " . ", ". . ."):
        assert safe_filename(name) == "_"

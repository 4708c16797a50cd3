import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from relay_core import (
    InvalidInput,
    SessionName,
    safe_file_name,
    safe_filename,
    validate_filename,
    validate_name,
)
from relay_core.names import FILENAME_MAX_BYTES, NAME_MAX_CHARS

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

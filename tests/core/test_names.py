import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from relay_core import InvalidInput, SessionName, safe_file_name, validate_filename, validate_name
from relay_core.names import NAME_MAX_CHARS

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


@pytest.mark.parametrize("name", ["report.pdf", "Q3 report (final).pdf", "日本語.txt", "a" * 255])
def test_ordinary_file_names_are_accepted(name):
    assert validate_filename(name) == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/b", "..\\x", "/etc/passwd", "a\nb", " lead", "trail ", "a" * 256]
)
def test_path_like_or_odd_file_names_are_refused(name):
    with pytest.raises(InvalidInput, match="file name"):
        validate_filename(name)

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay_client import Cursors, StateFileError
from relay_core import InvalidInput


def test_a_session_without_a_cursor_has_none(tmp_path):
    assert Cursors(tmp_path).get("build-42") is None


def test_a_cursor_is_one_integer_in_a_file_named_after_the_session(tmp_path):
    cursors = Cursors(tmp_path / "cursors")
    cursors.set("build-42", 17)
    assert (tmp_path / "cursors" / "build-42.txt").read_text() == "17\n"
    assert cursors.get("build-42") == 17


def test_advance_never_moves_a_cursor_backwards(tmp_path):
    cursors = Cursors(tmp_path)
    assert cursors.advance("s", 10) == 10
    assert cursors.advance("s", 4) == 10
    assert cursors.advance("s", 11) == 11
    assert cursors.get("s") == 11


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "", "UPPER", ".hidden", "a..b"])
def test_a_session_name_that_is_not_valid_never_becomes_a_path(tmp_path, name):
    with pytest.raises(InvalidInput) as caught:
        Cursors(tmp_path).set(name, 1)
    assert caught.value.code == "invalid"
    assert list(tmp_path.iterdir()) == []


def test_a_name_windows_reserves_gets_a_safe_file_and_reads_back(tmp_path):
    cursors = Cursors(tmp_path)
    cursors.set("con", 3)
    assert (tmp_path / "_con.txt").exists()
    assert cursors.all() == {"con": 3}


def test_all_lists_every_cursor(tmp_path):
    cursors = Cursors(tmp_path)
    cursors.set("a", 1)
    cursors.set("b.2", 2)
    assert cursors.all() == {"a": 1, "b.2": 2}


def test_a_corrupt_cursor_names_the_file_and_line(tmp_path, write):
    path = write(tmp_path / "s.txt", "12abc\n")
    with pytest.raises(StateFileError) as caught:
        Cursors(tmp_path).get("s")
    assert caught.value.line == 1
    assert str(path) in caught.value.message


def test_a_cursor_with_two_numbers_names_the_second_line(tmp_path, write):
    write(tmp_path / "s.txt", "12\n\n13\n")
    with pytest.raises(StateFileError) as caught:
        Cursors(tmp_path).get("s")
    assert caught.value.line == 3


def test_a_hand_written_cursor_without_newline_is_fine(tmp_path, write):
    write(tmp_path / "s.txt", " 9")
    assert Cursors(tmp_path).get("s") == 9


def test_removing_a_cursor_says_whether_there_was_one(tmp_path):
    cursors = Cursors(tmp_path)
    cursors.set("s", 1)
    assert cursors.remove("s") is True
    assert cursors.remove("s") is False


def test_a_negative_cursor_is_refused(tmp_path):
    with pytest.raises(InvalidInput):
        Cursors(tmp_path).set("s", -1)


@given(st.integers(min_value=0, max_value=2**63))
def test_any_message_id_round_trips(tmp_path_factory, message_id):
    cursors = Cursors(tmp_path_factory.mktemp("c"))
    cursors.set("s", message_id)
    assert cursors.get("s") == message_id

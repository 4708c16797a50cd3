import pytest

from relay_client import Roster, StateFileError
from relay_core import InvalidInput, RelayError


def test_a_missing_roster_is_empty(tmp_path):
    assert len(Roster.load(tmp_path / "peers.toml")) == 0


def test_peers_survive_a_save_and_load_in_order(tmp_path):
    roster = Roster(tmp_path / "peers.toml")
    roster.add("bob", "bob-ws", "builds images")
    roster.add("carol", "carol-box")
    roster.save()
    loaded = Roster.load(tmp_path / "peers.toml")
    assert [(p.name, p.client_id, p.notes) for p in loaded] == [
        ("bob", "bob-ws", "builds images"),
        ("carol", "carol-box", ""),
    ]
    assert (tmp_path / "peers.toml").read_text().count("[[peers]]") == 2


def test_a_name_resolves_to_its_client_id_and_a_client_id_to_itself(tmp_path):
    roster = Roster(tmp_path / "p.toml")
    roster.add("bob", "bob-ws")
    assert roster.resolve("bob") == "bob-ws"
    assert roster.resolve("dave-pc") == "dave-pc"
    assert roster.name_for("bob-ws") == "bob"
    assert roster.name_for("dave-pc") is None


def test_resolving_something_that_is_neither_is_invalid(tmp_path):
    with pytest.raises(InvalidInput) as caught:
        Roster(tmp_path / "p.toml").resolve("Not A Name")
    assert caught.value.code == "invalid"


def test_adding_a_taken_name_is_a_conflict_unless_replacing(tmp_path):
    roster = Roster(tmp_path / "p.toml")
    roster.add("bob", "bob-ws")
    with pytest.raises(RelayError) as caught:
        roster.add("bob", "other")
    assert caught.value.code == "conflict"
    roster.add("bob", "other", replace=True)
    assert roster.resolve("bob") == "other"


def test_removing_an_unknown_peer_is_not_found(tmp_path):
    with pytest.raises(RelayError) as caught:
        Roster(tmp_path / "p.toml").remove("bob")
    assert caught.value.code == "not_found"


def test_a_bad_entry_names_the_file_and_the_line_of_its_table(tmp_path, write):
    text = (
        '[[peers]]\nname = "bob"\nclient_id = "bob-ws"\n\n'
        '[[peers]]\nname = "Carol!"\nclient_id = "carol"\n'
    )
    path = write(tmp_path / "peers.toml", text)
    with pytest.raises(StateFileError) as caught:
        Roster.load(path)
    assert caught.value.line == 5
    assert "peer name" in caught.value.message
    assert str(path) in caught.value.message


def test_an_unknown_key_in_an_entry_is_an_error(tmp_path, write):
    path = write(tmp_path / "peers.toml", '[[peers]]\nname = "bob"\nclient_id = "b"\nnick = "x"\n')
    with pytest.raises(StateFileError, match="'nick'"):
        Roster.load(path)


def test_a_name_listed_twice_is_an_error(tmp_path, write):
    text = '[[peers]]\nname = "bob"\nclient_id = "a"\n[[peers]]\nname = "bob"\nclient_id = "b"\n'
    with pytest.raises(StateFileError) as caught:
        Roster.load(write(tmp_path / "peers.toml", text))
    assert caught.value.line == 4


def test_a_top_level_key_other_than_peers_is_an_error(tmp_path, write):
    with pytest.raises(StateFileError, match="'friends'"):
        Roster.load(write(tmp_path / "peers.toml", "friends = []\n"))


def test_broken_toml_in_the_roster_names_the_line(tmp_path, write):
    with pytest.raises(StateFileError) as caught:
        Roster.load(write(tmp_path / "peers.toml", "[[peers]]\nname = bob\n"))
    assert caught.value.line == 2

import pytest

from relay_client.partial import PartialFile, partial_path
from relay_core import Conflict

DIGEST = "ab" * 32


def test_the_partial_name_is_short_whatever_the_destination_name(tmp_path):
    short = partial_path(tmp_path / "a", DIGEST)
    long = partial_path(tmp_path / ("日" * 85), DIGEST)
    assert len(short.name) == len(long.name) < 64
    assert short.name.startswith("." + DIGEST[:16])
    assert short != long


def test_a_partial_file_swapped_for_a_link_mid_download_is_not_moved_into_place(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"mine")
    part = partial_path(tmp_path / "out", DIGEST)
    with PartialFile(part) as partial:
        partial.append(b"downloaded")
        part.unlink()
        part.symlink_to(victim)
        with pytest.raises(Conflict, match="was replaced while the download ran"):
            partial.move_to(tmp_path / "out")
        partial.discard()  # not ours any more: left alone
    assert not (tmp_path / "out").exists()
    assert part.is_symlink()
    assert victim.read_bytes() == b"mine"


def test_a_partial_file_resumes_with_what_it_holds(tmp_path):
    part = partial_path(tmp_path / "out", DIGEST)
    with PartialFile(part) as partial:
        partial.append(b"first ")
    with PartialFile(part) as partial:
        assert partial.size == 6
        partial.append(b"second")
        partial.move_to(tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"first second"
    assert not part.exists()

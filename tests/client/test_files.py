import os
import stat

import pytest

from relay_client import StateFileError
from relay_client.files import line_of_key, parse_toml, read_text, write_atomic


def test_an_atomic_write_replaces_the_whole_file(tmp_path):
    path = tmp_path / "a" / "b.txt"
    write_atomic(path, b"old and long\n")
    write_atomic(path, b"new\n")
    assert path.read_bytes() == b"new\n"


def test_an_atomic_write_leaves_no_temporary_files(tmp_path):
    write_atomic(tmp_path / "f.txt", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_write_that_fails_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    write_atomic(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_private_file_is_never_readable_by_others(tmp_path, monkeypatch):
    seen = []  # (step, mode, size) of the file being written, at each step that touches it

    def spy(step, real):
        def call(fd, *args):
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                seen.append((step, stat.S_IMODE(info.st_mode), info.st_size))
            return real(fd, *args)

        return call

    monkeypatch.setattr(os, "fchmod", spy("fchmod", os.fchmod))
    monkeypatch.setattr(os, "fsync", spy("fsync", os.fsync))
    path = tmp_path / "secret"
    write_atomic(path, b"token", mode=0o600)
    assert [step for step, _, _ in seen] == ["fchmod", "fsync"]
    assert all(mode & 0o077 == 0 for _, mode, _ in seen), seen  # private from creation on
    assert seen[0][2] == 0  # its mode was set before the first byte
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "x.toml"
    with pytest.raises(StateFileError) as caught:
        parse_toml(path, 'a = "ok"\nb = \n')
    assert caught.value.code == "invalid"
    assert caught.value.line == 2
    assert str(path) in caught.value.message
    assert "line 2" in caught.value.message


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "x.toml"
    path.write_bytes(b"a = 1\nb = '\xff'\n")
    with pytest.raises(StateFileError) as caught:
        read_text(path)
    assert caught.value.line == 2


def test_a_missing_file_reads_as_none(tmp_path):
    assert read_text(tmp_path / "nope") is None


def test_the_line_of_a_key_is_found_quoted_or_bare():
    text = '# comment\nfoo = 1\n"bar" = 2\n'
    assert line_of_key(text, "foo") == 2
    assert line_of_key(text, "bar") == 3
    assert line_of_key(text, "baz") is None

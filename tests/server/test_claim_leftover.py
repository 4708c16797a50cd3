"""claim_leftover decides whether gc may remove an upload's temp file: both of its ways to decide.

With file locks (Linux, macOS) a temp file that an upload holds locked is never claimed. Without
them (Windows, where ``fcntl`` does not exist) only a file untouched for STALE_TEMP_S is; that
branch is taken here by removing ``fcntl`` from the module, as on a machine that has none.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from relay_server.storage.blobs import STALE_TEMP_S, claim_leftover, files


def temp_file(tmp_path: Path, age_s: float) -> Path:
    path = tmp_path / ".abc.0123456789abcdef.part"
    path.write_bytes(b"half an upload")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def claimed(path: Path) -> bool:
    with claim_leftover(path) as result:
        return result


def test_a_missing_temp_file_is_never_claimed(tmp_path):
    assert claimed(tmp_path / "gone.part") is False


def test_with_file_locks_an_unlocked_file_is_claimed_whatever_its_age(tmp_path):
    assert claimed(temp_file(tmp_path, 0)) is True


def test_with_file_locks_a_file_an_upload_holds_locked_is_not_claimed(tmp_path):
    path = temp_file(tmp_path, 2 * STALE_TEMP_S)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert claimed(path) is False
    finally:
        os.close(fd)
    assert claimed(path) is True


@pytest.mark.parametrize(
    ("age_s", "expected"),
    [(0, False), (STALE_TEMP_S - 60, False), (STALE_TEMP_S + 60, True), (2 * STALE_TEMP_S, True)],
)
def test_without_file_locks_only_a_file_untouched_for_the_stale_age_is_claimed(
    tmp_path, monkeypatch, age_s, expected
):
    monkeypatch.setattr(files, "fcntl", None)
    assert claimed(temp_file(tmp_path, age_s)) is expected


def test_without_file_locks_a_missing_file_is_not_claimed(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "fcntl", None)
    assert claimed(tmp_path / "gone.part") is False


def test_the_stale_age_is_the_six_hours_the_docs_promise():
    # The tests above use the constant by name; operators read the number in the docs.
    assert STALE_TEMP_S == 6 * 3600
    docs = Path(__file__).resolve().parents[2] / "docs"
    assert "untouched for six hours" in (docs / "scaling.md").read_text()
    assert "once 6 h old" in (docs / "reliability.md").read_text()


def test_without_file_locks_a_file_from_1970_is_claimed(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "fcntl", None)
    path = temp_file(tmp_path, 0)
    os.utime(path, (1, 1))  # one second after the epoch: the oldest a clock can say
    assert claimed(path) is True

import hashlib
import json
import os
from pathlib import Path

import pytest
import responses
from responses import matchers

from relay_client import partial_path

RELAY = "http://127.0.0.1:7878"
DATA = b"quarterly numbers\n" * 1000
DIGEST = hashlib.sha256(DATA).hexdigest()
BLOB = f"{RELAY}/blobs/{DIGEST}"
MESSAGES = f"{RELAY}/api/v1/sessions/build-42/messages"


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "report.csv"
    path.write_bytes(DATA)
    return path


def expect_message(relay_http, payloads, text, **extra):
    body = {
        "text": text,
        "to": extra.get("to", []),
        "reply_to": None,
        "attachments": [{"sha256": DIGEST, "filename": "report.csv", "mime": "text/csv"}],
    }
    relay_http.post(
        MESSAGES,
        status=201,
        json=payloads.sent(21),
        match=[matchers.json_params_matcher(body)],
    )


def test_send_file_uploads_new_content_then_sends_the_message(
    configured, relay_http, payloads, report, run
):
    relay_http.get(f"{RELAY}/api/v1/sessions/build-42", json=payloads.session())
    relay_http.head(BLOB, status=404)
    relay_http.put(BLOB, status=201, json={"sha256": DIGEST, "size": len(DATA), "created": True})
    expect_message(relay_http, payloads, "numbers for Q3")
    result = run("send-file", "build-42", str(report), "--note", "numbers for Q3")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Sent #21 to build-42 with report.csv (17.6 KiB, uploaded).\n"
    assert [c.request.method for c in relay_http.calls] == ["GET", "HEAD", "PUT", "POST"]


def test_send_file_does_not_upload_what_the_relay_has(
    configured, relay_http, payloads, report, run
):
    run("peers", "add", "bob", "bob-ws")
    relay_http.get(f"{RELAY}/api/v1/sessions/build-42", json=payloads.session())
    relay_http.head(BLOB, headers={"Content-Length": str(len(DATA))})
    expect_message(relay_http, payloads, "report.csv (17.6 KiB)", to=["bob-ws"])
    result = run("send-file", "build-42", str(report), "--to", "bob", "--json")
    data = json.loads(result.stdout)
    assert (data["uploaded"], data["sha256"], data["message"]["id"]) == (False, DIGEST, 21)
    assert "PUT" not in [c.request.method for c in relay_http.calls]


def test_send_file_to_a_session_you_are_not_in_uploads_nothing(
    configured, relay_http, payloads, report, run
):
    relay_http.get(
        f"{RELAY}/api/v1/sessions/build-42",
        status=403,
        json=payloads.error("forbidden", "you are not a participant of 'build-42'"),
    )
    result = run("send-file", "build-42", str(report))
    assert result.exit_code == 4
    assert len(relay_http.calls) == 1


def test_send_file_over_the_quota_says_so(configured, relay_http, payloads, report, run):
    relay_http.get(f"{RELAY}/api/v1/sessions/build-42", json=payloads.session())
    relay_http.head(BLOB, status=404)
    relay_http.put(BLOB, status=507, json=payloads.error("quota_exceeded", "the store is full"))
    result = run("send-file", "build-42", str(report))
    assert result.exit_code == 10
    assert result.stderr.splitlines()[-1].startswith("Error: quota_exceeded: the store is full")


def test_send_file_of_a_missing_path_is_a_usage_error(configured, run, tmp_path):
    result = run("send-file", "build-42", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def attachment_message(payloads, *names):
    attachments = [
        {"sha256": DIGEST, "filename": name, "size": len(DATA), "mime": None} for name in names
    ]
    return payloads.message(21, attachments=attachments)


def test_fetch_file_by_message_id_saves_under_the_attachments_name(
    configured, relay_http, payloads, run
):
    relay_http.get(f"{RELAY}/api/v1/messages/21", json=attachment_message(payloads, "report.csv"))
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", "21")
    assert result.exit_code == 0, result.output
    assert (Path.cwd() / "report.csv").read_bytes() == DATA
    assert result.stdout.endswith("report.csv (17.6 KiB, sha256 verified).\n")


def test_fetch_file_by_digest_writes_to_the_output_path(configured, relay_http, run, tmp_path):
    relay_http.get(BLOB, body=DATA)
    out = tmp_path / "copy.csv"
    result = run("fetch-file", DIGEST, "-o", str(out), "--json")
    assert out.read_bytes() == DATA
    assert json.loads(result.stdout)["files"] == [
        {"path": str(out), "sha256": DIGEST, "size": len(DATA), "resumed_from": 0}
    ]


def test_fetch_file_never_overwrites_without_force(configured, relay_http, run, tmp_path):
    out = tmp_path / "copy.csv"
    out.write_bytes(b"keep me")
    result = run("fetch-file", DIGEST, "-o", str(out))
    assert result.exit_code == 6
    assert result.stderr == f"Error: conflict: {out} already exists: pass --force to replace it\n"
    assert out.read_bytes() == b"keep me"
    relay_http.get(BLOB, body=DATA)
    assert run("fetch-file", DIGEST, "-o", str(out), "--force").exit_code == 0
    assert out.read_bytes() == DATA


@pytest.mark.parametrize("name", ["copy.csv", "é" * 125 + ".csv"])
def test_fetch_file_resumes_a_part_file(configured, relay_http, run, tmp_path, name):
    out = tmp_path / name
    partial_path(out, DIGEST).write_bytes(DATA[:100])
    relay_http.get(
        BLOB,
        status=206,
        body=DATA[100:],
        headers={"Content-Range": f"bytes 100-{len(DATA) - 1}/{len(DATA)}"},
        match=[matchers.header_matcher({"Range": "bytes=100-"})],
    )
    result = run("fetch-file", DIGEST, "-o", str(out))
    assert "resumed at 100 B" in result.stdout
    assert out.read_bytes() == DATA


def test_fetch_file_of_a_message_with_several_files_needs_a_directory(
    configured, relay_http, payloads, run, tmp_path
):
    relay_http.get(
        f"{RELAY}/api/v1/messages/21", json=attachment_message(payloads, "a.csv", "b.csv")
    )
    result = run("fetch-file", "21", "-o", str(tmp_path / "file.csv"))
    assert result.exit_code == 2
    assert "-o must name a directory" in result.stderr
    relay_http.get(BLOB, body=DATA)
    relay_http.get(BLOB, body=DATA)
    assert run("fetch-file", "21", "-o", str(tmp_path)).exit_code == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes() == DATA


def test_fetch_file_of_a_message_without_files_is_not_found(configured, relay_http, payloads, run):
    relay_http.get(f"{RELAY}/api/v1/messages/21", json=payloads.message(21))
    result = run("fetch-file", "21")
    assert (result.exit_code, result.stderr) == (
        5,
        "Error: not_found: message #21 has no attached files\n",
    )


def test_fetch_file_saves_an_attachment_name_that_is_a_path_inside_the_folder(
    configured, relay_http, payloads, run, tmp_path
):
    relay_http.get(
        f"{RELAY}/api/v1/messages/21", json=attachment_message(payloads, "../../.bashrc")
    )
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", "21")
    assert result.exit_code == 0, result.output
    assert (Path.cwd() / ".._.._.bashrc").read_bytes() == DATA
    assert "saving it as '.._.._.bashrc'" in result.stderr
    assert not (tmp_path / ".bashrc").exists()


@pytest.mark.parametrize(
    ("stored", "saved"),
    [
        ("D:evil.bat", "D_evil.bat"),
        ("a.txt:stream", "a.txt_stream"),
        ("nul.txt", "_nul.txt"),
        ("COM1.log", "_COM1.log"),
        ("CONIN$", "_CONIN$"),
        ("COM\u00b9", "_COM\u00b9"),
        ("x\u202etxt.exe", "x_txt.exe"),
    ],
)
def test_fetch_file_saves_a_name_windows_would_misread_under_a_safe_one(
    configured, relay_http, payloads, run, stored, saved
):
    # Stored before the relay refused such names (or by an older relay).
    relay_http.get(f"{RELAY}/api/v1/messages/21", json=attachment_message(payloads, stored))
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", "21")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in Path.cwd().iterdir()) == [saved]
    assert "is not safe to save" in result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "r" * 251 + ".csv",  # 255 bytes
        "é" * 125 + ".csv",  # 254 bytes, 129 characters
        "日" * 83 + ".csv",  # 253 bytes
    ],
)
def test_fetch_file_saves_every_name_the_relay_accepts_up_to_255_bytes(
    configured, relay_http, payloads, run, name
):
    relay_http.get(f"{RELAY}/api/v1/messages/21", json=attachment_message(payloads, name))
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", "21")
    assert result.exit_code == 0, result.output
    assert (Path.cwd() / name).read_bytes() == DATA
    assert [p.name for p in Path.cwd().iterdir()] == [name]


def test_send_file_of_a_name_windows_would_misread_sends_a_safe_name(
    configured, relay_http, payloads, tmp_path, run
):
    odd = tmp_path / "what?.csv"
    odd.write_bytes(DATA)
    relay_http.get(f"{RELAY}/api/v1/sessions/build-42", json=payloads.session())
    relay_http.head(BLOB, headers={"Content-Length": str(len(DATA))})
    relay_http.post(
        MESSAGES,
        status=201,
        json=payloads.sent(21),
        match=[
            matchers.json_params_matcher(
                {
                    "text": "what_.csv (17.6 KiB)",
                    "to": [],
                    "reply_to": None,
                    "attachments": [
                        {"sha256": DIGEST, "filename": "what_.csv", "mime": "text/csv"}
                    ],
                }
            )
        ],
    )
    result = run("send-file", "build-42", str(odd))
    assert result.exit_code == 0, result.output
    assert "'what?.csv' is sent as 'what_.csv'" in result.stderr


# --- partial files planted by someone else ----------------------------------------------


@pytest.fixture
def victim(tmp_path):
    """A file of ours that a planted link points at."""
    path = tmp_path / "home" / ".bashrc"
    path.parent.mkdir()
    path.write_bytes(b"export PATH=/usr/bin\n")
    return path


@pytest.fixture
def shared(tmp_path):
    """A folder others can write to, like /tmp."""
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder


def test_fetch_file_never_writes_through_a_partial_file_planted_as_a_symlink(
    configured, relay_http, run, victim, shared
):
    out = shared / "copy.csv"
    partial_path(out, DIGEST).symlink_to(victim)
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", DIGEST, "-o", str(out))
    assert result.exit_code == 6
    assert "is a symbolic link, not a partial download of ours" in result.stderr
    assert victim.read_bytes() == b"export PATH=/usr/bin\n"
    assert not out.exists()
    assert partial_path(out, DIGEST).is_symlink()  # left alone
    assert not relay_http.calls


def test_fetch_file_never_writes_through_a_dangling_planted_symlink(
    configured, relay_http, run, shared, tmp_path
):
    out = shared / "copy.csv"
    target = tmp_path / "home" / "new-file"
    partial_path(out, DIGEST).symlink_to(target)
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", DIGEST, "-o", str(out))
    assert result.exit_code == 6
    assert not target.exists()


def test_fetch_file_never_appends_to_a_planted_hard_link(
    configured, relay_http, run, victim, shared
):
    out = shared / "copy.csv"
    os.link(victim, partial_path(out, DIGEST))
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", DIGEST, "-o", str(out))
    assert result.exit_code == 6
    assert "has another hard link" in result.stderr
    assert victim.read_bytes() == b"export PATH=/usr/bin\n"


def test_fetch_file_refuses_a_partial_file_that_is_not_a_regular_file(
    configured, relay_http, run, shared
):
    out = shared / "copy.csv"
    partial_path(out, DIGEST).mkdir()
    result = run("fetch-file", DIGEST, "-o", str(out))
    assert result.exit_code == 6
    assert "is not a regular file" in result.stderr


def test_fetch_file_with_force_replaces_a_planted_destination_link_not_its_target(
    configured, relay_http, run, victim, shared
):
    out = shared / "copy.csv"
    out.symlink_to(victim)
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", DIGEST, "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert not out.is_symlink()
    assert out.read_bytes() == DATA
    assert victim.read_bytes() == b"export PATH=/usr/bin\n"


def test_a_finished_download_is_private_to_us(configured, relay_http, run, shared):
    out = shared / "copy.csv"
    relay_http.get(BLOB, body=DATA)
    assert run("fetch-file", DIGEST, "-o", str(out)).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("target", ["abc", "ABCDEF" * 11, "-1", "1.5"])
def test_fetch_file_refuses_a_target_that_is_neither(configured, relay_http, run, target):
    result = run("fetch-file", "--", target)
    assert result.exit_code == 2
    assert "neither a SHA-256 digest" in result.stderr


def test_fetch_file_of_bytes_that_do_not_match_fails_and_keeps_nothing(
    configured, relay_http, run, tmp_path
):
    relay_http.get(BLOB, body=DATA + b"tampered")
    result = run("fetch-file", DIGEST, "-o", str(tmp_path / "x.csv"))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        "Error: internal: the downloaded bytes hash to"
    )
    assert not list(tmp_path.glob("x.csv*"))


def test_fetch_file_that_the_relay_does_not_have_is_not_found(
    configured, relay_http, payloads, run
):
    relay_http.add(
        responses.GET, BLOB, status=404, json=payloads.error("not_found", "no such file")
    )
    result = run("fetch-file", DIGEST)
    assert (result.exit_code, result.stderr) == (5, "Error: not_found: no such file\n")


def test_fetch_file_off_a_terminal_prints_progress_lines_on_stderr(
    configured, relay_http, run, tmp_path
):
    relay_http.get(BLOB, body=DATA, headers={"Content-Length": str(len(DATA))})
    result = run("fetch-file", DIGEST, "-o", str(tmp_path / "copy.csv"))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "downloading copy.csv: 0 B of 17.6 KiB (0%)"
    assert lines[-1].startswith("downloading copy.csv: done, 17.6 KiB in ")
    assert result.stdout.startswith("Saved ")


def test_transfers_with_json_print_no_progress(configured, relay_http, run, tmp_path):
    relay_http.get(BLOB, body=DATA)
    result = run("fetch-file", DIGEST, "-o", str(tmp_path / "copy.csv"), "--json")
    assert result.stderr == ""

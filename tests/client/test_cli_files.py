import hashlib
import json
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
    attachment = {"sha256": DIGEST, "filename": "report.csv", "size": len(DATA), "mime": "text/csv"}
    sent = payloads.message(21, sender="alice-laptop", attachments=[attachment])
    relay_http.get(f"{RELAY}/api/v1/messages/21", json=sent)
    result = run("send-file", "build-42", str(report), "--to", "bob", "--json")
    assert json.loads(result.stdout) == {"message": sent, "uploaded": False}
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
    assert result.stderr.startswith("Error: quota_exceeded: the store is full")


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


def test_fetch_file_resumes_a_part_file(configured, relay_http, run, tmp_path):
    out = tmp_path / "copy.csv"
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


def test_fetch_file_refuses_an_attachment_name_that_is_a_path(
    configured, relay_http, payloads, run
):
    relay_http.get(
        f"{RELAY}/api/v1/messages/21", json=attachment_message(payloads, "../../.bashrc")
    )
    result = run("fetch-file", "21")
    assert result.exit_code == 2
    assert "path separator" in result.stderr


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
    assert result.stderr.startswith("Error: internal: the downloaded bytes hash to")
    assert not list(tmp_path.glob("x.csv*"))


def test_fetch_file_that_the_relay_does_not_have_is_not_found(
    configured, relay_http, payloads, run
):
    relay_http.add(
        responses.GET, BLOB, status=404, json=payloads.error("not_found", "no such file")
    )
    result = run("fetch-file", DIGEST)
    assert (result.exit_code, result.stderr) == (5, "Error: not_found: no such file\n")

"""Blob transfers over a real socket, against a small stand-in for the relay's /blobs routes.

``responses`` never opens a connection, so it cannot show that an upload is streamed with a
Content-Length (not chunked) or that a download resumes with a real Range request. This stand-in
follows docs/http-api.md for PUT, HEAD and GET with ``Range: bytes=N-``, on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relay_client import RelayClient, partial_path

MIB = 1024 * 1024


class BlobStore(BaseHTTPRequestHandler):
    blobs: dict[str, bytes]
    seen: list[dict[str, str | None]]

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _digest(self) -> str:
        return self.path.removeprefix("/blobs/")

    def do_PUT(self) -> None:
        self.seen.append(
            {
                "content-length": self.headers.get("Content-Length"),
                "transfer-encoding": self.headers.get("Transfer-Encoding"),
            }
        )
        data = self.rfile.read(int(self.headers["Content-Length"]))
        digest = self._digest()
        if hashlib.sha256(data).hexdigest() != digest:
            self._answer(400, b'{"error": {"code": "invalid", "message": "digest mismatch"}}')
            return
        self.blobs[digest] = data
        self._answer(201, f'{{"sha256": "{digest}", "size": {len(data)}}}'.encode())

    def do_HEAD(self) -> None:
        data = self.blobs.get(self._digest())
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data) if data is not None else 0))
        self.end_headers()

    def do_GET(self) -> None:
        data = self.blobs.get(self._digest())
        if data is None:
            self._answer(404, b'{"error": {"code": "not_found", "message": "no such blob"}}')
            return
        start = int(self.headers.get("Range", "bytes=0-").removeprefix("bytes=").split("-")[0])
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def store() -> Iterator[tuple[str, type[BlobStore]]]:
    handler = type("Handler", (BlobStore,), {"blobs": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_upload_is_streamed_with_a_content_length_and_arrives_whole(store, tmp_path):
    url, handler = store
    data = os.urandom(20 * MIB + 3)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    progress = []
    with RelayClient(url, "alice") as client:
        result = client.upload_file(path, progress=lambda done, total: progress.append(done))
        again = client.upload_file(path)
    digest = hashlib.sha256(data).hexdigest()
    assert (result.sha256, result.uploaded, again.uploaded) == (digest, True, False)
    assert handler.blobs[digest] == data
    assert handler.seen == [{"content-length": str(len(data)), "transfer-encoding": None}]
    assert len(progress) > 2
    assert progress[-1] == len(data)


def test_a_download_resumes_over_a_real_connection(store, tmp_path):
    url, handler = store
    data = os.urandom(8 * MIB + 5)
    digest = hashlib.sha256(data).hexdigest()
    handler.blobs[digest] = data
    dest = tmp_path / "copy.bin"
    partial_path(dest, digest).write_bytes(data[: 3 * MIB])
    with RelayClient(url, "alice") as client:
        download = client.download_blob(digest, dest)
    assert download.resumed_from == 3 * MIB
    assert dest.read_bytes() == data

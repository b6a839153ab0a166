"""download_model against an HTTP server on 127.0.0.1 that serves a generated GGUF-like
file with Range support. Nothing here contacts the internet."""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from secondme.errors import Cancelled, ModelError
from secondme.models.download import CATALOGUE, catalogue_entry, download_model
from secondme.progress import CancelToken

SIZE = 3 * 1024 * 1024 + 12345
PAYLOAD = b"GGUF" + bytes((i * 7 + i // 251) % 256 for i in range(SIZE - 4))
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class FileServer:
    def __init__(self):
        self.payload = PAYLOAD
        self.requests: list[dict] = []
        self.drop_after: int | None = None   # close the connection after this many bytes
        self.drops_left = 0
        self.status = 200
        self.ranges = True
        self.etag_sha: str | None = SHA
        self.delay = 0.0
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                srv.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if srv.status != 200:
                    self.send_response(srv.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = srv.payload
                start = 0
                m = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if m and srv.ranges:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                if srv.etag_sha:
                    self.send_header("X-Linked-Etag", f'"{srv.etag_sha}"')
                self.send_header("ETag", '"v1"')
                self.send_header("Connection", "close")
                self.end_headers()
                body = data[start:]
                if srv.drop_after is not None and srv.drops_left > 0:
                    srv.drops_left -= 1
                    body = body[:srv.drop_after]
                try:
                    for i in range(0, len(body), 65536):
                        self.wfile.write(body[i:i + 65536])
                        if srv.delay:
                            time.sleep(srv.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name="model-q4.gguf"):
        return f"{self.base}/files/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


def test_full_download_verified_by_the_given_sha(server, tmp_path):
    reports = []
    path = download_model(server.url(), tmp_path, sha256=SHA, progress=reports.append)
    assert path == tmp_path / "model-q4.gguf"
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "model-q4.gguf.part").exists()
    dl = [r for r in reports if r.stage == "downloading"]
    assert dl[-1].done == dl[-1].total == SIZE
    assert all(a.done <= b.done for a, b in zip(dl, dl[1:]))


def test_sha_from_the_servers_header_is_checked(server, tmp_path):
    server.etag_sha = "ab" * 32  # the server claims another checksum
    with pytest.raises(ModelError, match="damaged"):
        download_model(server.url(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_checksum_mismatch_deletes_the_part_and_is_never_success(server, tmp_path):
    with pytest.raises(ModelError) as e:
        download_model(server.url(), tmp_path, sha256="0" * 64)
    assert "sha256" in str(e.value) and "deleted" in str(e.value)
    assert not (tmp_path / "model-q4.gguf").exists()
    assert not (tmp_path / "model-q4.gguf.part").exists()


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.drop_after = 1_000_000
    server.drops_left = 1
    path = download_model(server.url(), tmp_path, sha256=SHA)
    assert path.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, "bytes=1000000-"]


def test_cancelled_download_resumes_where_it_stopped_next_time(server, tmp_path):
    server.delay = 0.01
    cancel = CancelToken()

    def progress(p):
        if p.done >= 1_000_000:
            cancel.cancel()

    with pytest.raises(Cancelled):
        download_model(server.url(), tmp_path, sha256=SHA, progress=progress, cancel=cancel)
    part = tmp_path / "model-q4.gguf.part"
    kept = part.stat().st_size
    assert 1_000_000 <= kept < SIZE
    assert not (tmp_path / "model-q4.gguf").exists()
    server.delay = 0.0
    # "a restart": a new call (the state is only on disk)
    path = download_model(server.url(), tmp_path, sha256=SHA)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == f"bytes={kept}-"


def test_a_complete_part_is_finished_without_refetching(server, tmp_path):
    (tmp_path / "model-q4.gguf.part").write_bytes(PAYLOAD)
    (tmp_path / "model-q4.gguf.part.json").write_text(json.dumps(
        {"url": server.url(), "validator": '"v1"', "sha256": SHA}))
    path = download_model(server.url(), tmp_path, sha256=SHA)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == f"bytes={SIZE}-"


def test_a_server_without_ranges_restarts_from_zero(server, tmp_path):
    (tmp_path / "model-q4.gguf.part").write_bytes(PAYLOAD[:500_000])
    (tmp_path / "model-q4.gguf.part.json").write_text(json.dumps({"url": server.url()}))
    server.ranges = False
    path = download_model(server.url(), tmp_path, sha256=SHA)
    assert path.read_bytes() == PAYLOAD


def test_a_part_of_another_url_is_not_reused(server, tmp_path):
    (tmp_path / "model-q4.gguf.part").write_bytes(b"GGUF" + b"x" * 1000)
    (tmp_path / "model-q4.gguf.part.json").write_text(json.dumps({"url": "http://else/x"}))
    path = download_model(server.url(), tmp_path, sha256=SHA)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] is None


@pytest.mark.parametrize("status", [404, 500, 503])
def test_server_errors_are_model_errors(server, tmp_path, status):
    server.status = status
    with pytest.raises(ModelError, match=f"HTTP {status}"):
        download_model(server.url(), tmp_path)
    assert not (tmp_path / "model-q4.gguf").exists()


def test_unreachable_server(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ModelError, match="cannot reach"):
        download_model(f"http://127.0.0.1:{port}/m.gguf", tmp_path, timeout=2)


def test_an_html_page_is_not_accepted_as_a_model(server, tmp_path):
    server.payload = b"<html>" + b"x" * 5000
    server.etag_sha = None
    with pytest.raises(ModelError, match="not a GGUF"):
        download_model(server.url(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_verified_file_is_returned_without_downloading(server, tmp_path):
    (tmp_path / "model-q4.gguf").write_bytes(PAYLOAD)
    assert download_model(server.url(), tmp_path, sha256=SHA).read_bytes() == PAYLOAD
    assert server.requests == []


def test_repeated_drops_give_up_with_a_resumable_error(server, tmp_path):
    server.drop_after = 100_000
    server.drops_left = 100
    with pytest.raises(ModelError, match="run it again to resume"):
        download_model(server.url(), tmp_path, sha256=SHA, retries=2)
    assert (tmp_path / "model-q4.gguf.part").stat().st_size == 300_000


def test_catalogue_entries_are_well_formed():
    assert len(CATALOGUE) >= 2
    for e in CATALOGUE:
        assert e.url.startswith("https://") and e.filename.endswith(".gguf")
        assert e.size_mb > 100
        assert e.sha256 is None or len(e.sha256) == 64
    assert catalogue_entry(CATALOGUE[0].filename) is CATALOGUE[0]
    with pytest.raises(ModelError, match="choose one of"):
        catalogue_entry("nope")


def test_bad_sha_argument(tmp_path):
    with pytest.raises(ModelError, match="64 hex"):
        download_model("http://127.0.0.1:9/x.gguf", tmp_path, sha256="abc")
    assert os.listdir(tmp_path) == []

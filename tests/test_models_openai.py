"""OpenAICompatLLM against a tiny OpenAI-style server started on 127.0.0.1."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from secondme.errors import Cancelled, ModelError
from secondme.models.llm import OpenAICompatLLM
from secondme.progress import CancelToken

SECRET = "sk-test-very-secret-0123456789"


class FakeServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.mode = "stream"
        self.pieces = ["Anna ", "lives ", "in ", "Berlin ", "[1]."]
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n))
                server.requests.append({"path": self.path, "headers": dict(self.headers),
                                        "body": body})
                if server.mode == "401":
                    return self._json(401, {"error": {"message": "invalid api key"}})
                if server.mode == "500":
                    return self._json(500, {"error": {"message": "model crashed"}})
                if server.mode == "plain":
                    return self._json(200, {"choices": [{"message": {
                        "role": "assistant", "content": "".join(server.pieces)}}]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(b": keep-alive comment\n\n")
                    for p in server.pieces:
                        chunk = {"choices": [{"index": 0, "delta": {"content": p}}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if server.delay:
                            time.sleep(server.delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _json(self, status, obj):
                raw = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def make(server, key=SECRET):
    return OpenAICompatLLM(server.url, "test-model", lambda: key)


def test_streams_tokens_and_returns_the_whole_text(server):
    llm = make(server)
    got = []
    out = llm.chat([{"role": "user", "content": "Where does Anna live?"}], max_tokens=50,
                   stop=["\n\n"], on_token=got.append)
    assert got == server.pieces
    assert out == "Anna lives in Berlin [1]."
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert req["body"]["model"] == "test-model" and req["body"]["stream"] is True
    assert req["body"]["max_tokens"] == 50 and req["body"]["stop"] == ["\n\n"]
    assert req["body"]["messages"] == [{"role": "user", "content": "Where does Anna live?"}]


def test_complete_sends_one_user_message(server):
    assert make(server).complete("hello") == "Anna lives in Berlin [1]."
    assert server.requests[0]["body"]["messages"] == [{"role": "user", "content": "hello"}]


def test_json_schema_becomes_response_format(server):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    make(server).chat([{"role": "user", "content": "x"}], json_schema=schema)
    rf = server.requests[0]["body"]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == schema


def test_no_key_no_authorization_header(server):
    make(server, key=None).complete("x")
    assert "Authorization" not in server.requests[0]["headers"]


def test_non_streaming_reply_is_accepted(server):
    server.mode = "plain"
    got = []
    assert make(server).complete("x", on_token=got.append) == "Anna lives in Berlin [1]."
    assert got == ["Anna lives in Berlin [1]."]


def test_cancel_mid_stream_closes_the_connection_promptly(server):
    server.pieces = [f"w{i} " for i in range(200)]
    server.delay = 0.05
    cancel = CancelToken()
    got = []

    def on_token(s):
        got.append(s)
        if len(got) == 3:
            cancel.cancel()

    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        make(server).chat([{"role": "user", "content": "x"}], on_token=on_token, cancel=cancel)
    assert time.perf_counter() - t0 < 2.0
    assert len(got) == 3


def test_cancel_while_the_server_stalls(server):
    server.pieces = ["a", "b"]
    server.delay = 5.0  # the server sends one piece then hangs
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        make(server).chat([{"role": "user", "content": "x"}], cancel=cancel)
    assert time.perf_counter() - t0 < 2.0


def test_rejected_key_is_a_model_error_without_the_key(server, caplog):
    server.mode = "401"
    llm = make(server)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ModelError) as e:
        llm.complete("x")
    assert "API key" in str(e.value) and server.url in str(e.value)
    assert SECRET not in str(e.value)
    assert SECRET not in repr(llm) and SECRET not in str(vars(llm))
    assert SECRET not in caplog.text


def test_server_error_is_reported(server):
    server.mode = "500"
    with pytest.raises(ModelError, match="HTTP 500.*model crashed"):
        make(server).complete("x")


def test_unreachable_endpoint_is_a_model_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    llm = OpenAICompatLLM(f"http://127.0.0.1:{port}/v1", "m", lambda: None)
    with pytest.raises(ModelError, match="cannot reach"):
        llm.complete("x")


def test_bad_urls_are_rejected_up_front():
    with pytest.raises(ModelError, match="no endpoint"):
        OpenAICompatLLM("", "m")
    with pytest.raises(ModelError, match="http"):
        OpenAICompatLLM("localhost:11434", "m")

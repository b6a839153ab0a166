"""Bad MCP requests (issue 17, item 10), sent as raw JSON-RPC lines to the real server
process (``secondme mcp`` with the test fakes), so that what a client library would
refuse to send still reaches it.

Before: ``time_range "0001-01-01..9999-12-31"`` raised an internal OverflowError; a lone
surrogate in a query got no response at all (the answer echoing it could not be
encoded); a 50 MB message made a 52 MB tool result; a client name with control
characters was stored as-is. Now each gets an answer, results are capped, and the name
is cleaned.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER  # noqa: E402

from secondme.integrations.mcp import MAX_RESULT_TEXT_CHARS  # noqa: E402

BIG = 3_000_000   # characters in one message (a pasted log): over the cap many times


class RawClient:
    def __init__(self, home: Path):
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "--home", str(home), "mcp"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, raw: str) -> None:
        self.proc.stdin.write(raw.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def call(self, method: str, params_json: str, timeout: float = 120) -> dict:
        """Send a request whose params are given as JSON text (may hold escapes a
        library would refuse, like a lone surrogate) and wait for its response."""
        self.next_id += 1
        self.send(f'{{"jsonrpc": "2.0", "id": {self.next_id}, "method": "{method}", '
                  f'"params": {params_json}}}')
        while True:
            line = self.lines.get(timeout=timeout)  # queue.Empty: no response at all
            msg = json.loads(line)
            if msg.get("id") == self.next_id:
                return msg

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def home(tmp_path, fake_embedder):
    from secondme.service import SecondMe

    export = tmp_path / "export.json"
    export.write_text(json.dumps({"format": "secondme-chat", "version": 1, "conversations": [
        {"id": "c1", "title": "Logs", "participants": ["Sam"], "messages": [
            {"id": "m1", "speaker": "Sam", "timestamp": "2024-05-01T09:30:00+00:00",
             "text": "zebracrossing " + "x" * BIG},
            {"id": "m2", "speaker": "Sam", "timestamp": "2024-05-02T09:30:00+00:00",
             "text": "the café on the corner"}]}]}))
    h = tmp_path / "home"
    with SecondMe(h, embedder=fake_embedder) as sm:
        sm.import_paths([export], format="generic")
        sm.index_pending()
        sm.update_settings(mcp_allow_remember=True)
    return h


def _tool(c: RawClient, name: str, args_json: str) -> dict:
    msg = c.call("tools/call", f'{{"name": "{name}", "arguments": {args_json}}}')
    assert "result" in msg, msg
    return msg["result"]


def _payload(result: dict) -> dict:
    assert not result.get("isError"), result
    return result.get("structuredContent") or json.loads(result["content"][0]["text"])


def test_bad_mcp_requests_get_answers_and_results_are_capped(home):
    c = RawClient(home)
    try:
        init = c.call("initialize", json.dumps({
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "Evil\u001b[31m\nBot\u202e\u0000", "version": "1"}}))
        assert "result" in init, init
        c.send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')

        # the whole calendar: an answer, not an internal OverflowError
        r = _tool(c, "search_memories",
                  '{"query": "café", "time_range": "0001-01-01..9999-12-31"}')
        texts = [x["text"] for x in _payload(r)["results"]]
        assert any("café" in t for t in texts)

        # a lone surrogate (valid JSON escape, invalid Unicode): an answer
        r = _tool(c, "search_memories", '{"query": "caf\\udce9 corner"}')
        assert "results" in _payload(r)
        r = _tool(c, "ask", '{"question": "where is the \\ud800 café?"}')
        assert "answer" in _payload(r)

        # a 3 MB message: the result is capped and says how much was cut
        r = _tool(c, "search_memories", '{"query": "zebracrossing", "k": 5}')
        size = len(json.dumps(r))
        assert size < 4 * MAX_RESULT_TEXT_CHARS * 3, size
        big = [x["text"] for x in _payload(r)["results"] if "zebracrossing" in x["text"]]
        assert big and all(len(t) < MAX_RESULT_TEXT_CHARS + 100 for t in big)
        assert "characters in all]" in big[0]

        # the client's name is stored without its control characters
        r = _payload(_tool(c, "remember", '{"text": "I parked on level 3"}'))
        assert r["origin"] == "mcp:Evil [31m Bot"
        for ch in ("\u001b", "\n", "\u202e", "\u0000"):
            assert ch not in r["origin"] and ch not in r["conversation"]
    finally:
        c.close()

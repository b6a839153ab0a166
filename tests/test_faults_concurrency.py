"""Nothing lost, nothing wrong: several real processes on one store at once.

Two imports, two indexers, a formation run, two search loops (each search a new open of
the store and its index) and an MCP server answering a real MCP client, all started
together on one data directory. Every process must finish cleanly (no internal error,
no UNIQUE constraint on vector_items — issue 17, item 2), and afterwards the results
are checked exactly: every message stored once, every message and note with exactly
one vector, the saved index in step with the database, every unique word found by its
own message, and the long-lived MCP server — whose index was loaded before the others
indexed anything — answering exactly like a fresh process.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "privacy"))
from helpers import DRIVER  # noqa: E402

CONVERSATIONS, PER_CONVERSATION = 3, 40
ENV = {**os.environ, "PYTHONUNBUFFERED": "1",
       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
TOPICS = ["harbour", "lantern", "orchard", "violin", "glacier", "meadow", "compass", "cellar"]


def token(batch: str, c: int, i: int) -> str:
    return f"zq{batch}{c}x{i}k"


def write_export(path: Path, batch: str) -> list[str]:
    """A generic-JSON export whose every message carries a word found nowhere else."""
    convs, tokens = [], []
    for c in range(CONVERSATIONS):
        msgs = []
        for i in range(PER_CONVERSATION):
            t = token(batch, c, i)
            tokens.append(t)
            msgs.append({"id": f"{batch}-{c}-{i}", "speaker": ["Ava", "Sam"][i % 2],
                         "timestamp": f"2024-0{1 + c}-{1 + i % 27:02d}T10:{i % 60:02d}:00Z",
                         "text": f"I keep the {TOPICS[(c + i) % 8]} notebook {t} near "
                                 f"the {TOPICS[(c * 3 + i) % 8]} in {batch} town."})
        convs.append({"id": f"{batch}-conv{c}", "title": f"{batch} chat {c}",
                      "participants": ["Ava", "Sam"], "messages": msgs})
    path.write_text(json.dumps({"conversations": convs}))
    return tokens


def start(home: Path, *args: str, stdin=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, stdin=stdin or subprocess.DEVNULL)


def chain(home: Path, steps: list[tuple[str, ...]]) -> subprocess.Popen:
    args = [["--home", str(home), *s] for s in steps]
    return subprocess.Popen([sys.executable, str(DRIVER), "--chain", json.dumps(args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, stdin=subprocess.DEVNULL)


class McpClient(threading.Thread):
    """A real MCP client (the SDK's) on ``secondme mcp``: searches the words of the
    first export until told to stop, then runs the final queries."""

    def __init__(self, home: Path, during: list[str]):
        super().__init__(daemon=True)
        self.home, self.during = home, during
        self.final_queries: list[str] = []
        self.go_final = threading.Event()
        self.ready = threading.Event()
        self.calls = 0
        self.errors: list[str] = []
        self.misses: list[str] = []
        self.final: dict[str, list] = {}
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            anyio.run(self._main)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.failure = e

    async def _main(self) -> None:
        params = StdioServerParameters(command=sys.executable,
                                       args=[str(DRIVER), "--home", str(self.home), "mcp"],
                                       env=ENV)
        with anyio.fail_after(900):
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write, client_info=types.Implementation(
                        name="concurrency-test", version="1")) as s:
                    await s.initialize()
                    await self._search(s, self.during[0])   # loads the index now
                    self.ready.set()
                    n = 0
                    while not self.go_final.is_set():
                        t = self.during[n % len(self.during)]
                        res = await self._search(s, t)
                        if res is not None and not any(t in r["text"] for r in res):
                            self.misses.append(t)
                        n += 1
                    for q in self.final_queries:
                        self.final[q] = await self._search(s, q)

    async def _search(self, s, query: str):
        self.calls += 1
        r = await s.call_tool("search_memories", {"query": query, "k": 10})
        if r.is_error:
            self.errors.append(" ".join(getattr(c, "text", "") for c in r.content))
            return None
        data = r.structured_content or json.loads(r.content[0].text)
        return data["results"]


def _finish(procs: dict[str, subprocess.Popen], timeout: float = 1500) -> dict[str, tuple]:
    out = {}
    end = time.monotonic() + timeout
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=max(1, end - time.monotonic()))
        out[name] = (p.returncode, stdout, stderr)
    return out


def _key(results: list[dict]) -> list[tuple]:
    return [(r["kind"], r["id"], round(r["score"], 4)) for r in results]


def test_imports_indexers_formation_searches_and_mcp_at_once(tmp_path):
    home = tmp_path / "home"
    tok = {b: write_export(tmp_path / f"{b}.json", b) for b in ("a", "b", "c")}
    r = subprocess.run([sys.executable, str(DRIVER), "--chain", json.dumps(
        [["--home", str(home), "import", str(tmp_path / "a.json")],
         ["--home", str(home), "index"]])], capture_output=True, text=True, env=ENV,
        timeout=600)
    assert r.returncode == 0, r.stderr

    mcp = McpClient(home, tok["a"][::7])
    mcp.start()
    assert mcp.ready.wait(600), mcp.failure
    searches = [("search", t, "--json") for t in tok["a"][1::11]]
    procs = {
        "import b": chain(home, [("import", str(tmp_path / "b.json")),
                                 ("search", tok["b"][0], "--json")]),
        "import c": chain(home, [("import", str(tmp_path / "c.json")),
                                 ("search", tok["c"][0], "--json")]),
        "index 1": chain(home, [("index",), ("index",), ("index",)]),
        "index 2": chain(home, [("index",), ("index",), ("index",)]),
        "extract": chain(home, [("jobs", "run", "extract")]),
        "search 1": chain(home, searches),
        "search 2": chain(home, searches[::-1]),
    }
    done = _finish(procs)
    for name, (code, _out, err) in done.items():
        assert code == 0, (name, code, err[-2000:])
        assert "Traceback" not in err and "Internal error" not in err, (name, err[-2000:])
    for name in ("search 1", "search 2"):
        lines = [json.loads(x) for x in done[name][1].splitlines() if x.startswith("{")]
        assert len(lines) == len(searches)
        for line in lines:   # each word of the first export found by its own message
            assert any(line["query"] in r["text"] for r in line["results"]), line["query"]

    # finish what the concurrent run left (items imported after formation had started)
    r = subprocess.run([sys.executable, str(DRIVER), "--chain", json.dumps(
        [["--home", str(home), "jobs", "run", "extract"], ["--home", str(home), "index"]])],
        capture_output=True, text=True, env=ENV, timeout=900)
    assert r.returncode == 0, r.stderr

    conn = sqlite3.connect(home / "secondme.db")
    expected = 3 * CONVERSATIONS * PER_CONVERSATION
    assert conn.execute("select count(*) from messages").fetchone()[0] == expected
    assert conn.execute("select count(distinct external_id) from messages"
                        ).fetchone()[0] == expected
    for kind, table in (("message", "messages"), ("note", "notes")):
        rows = conn.execute(f"select count(*), count(v.label), count(distinct v.label) "
                            f"from {table} t left join vector_items v on v.kind = ? and "
                            f"v.item_id = t.id", [kind]).fetchone()
        assert rows[0] == rows[1] == rows[2] and rows[0] > 0, (kind, rows)
    orphans = conn.execute("select count(*) from vector_items v where not exists (select 1 "
                           "from messages m where v.kind = 'message' and m.id = v.item_id) "
                           "and not exists (select 1 from notes n where v.kind = 'note' and "
                           "n.id = v.item_id)").fetchone()[0]
    assert orphans == 0
    items = conn.execute("select count(*) from vector_items").fetchone()[0]
    conn.close()
    meta = json.loads((home / "vectors" / "index.json").read_text())
    assert meta["count"] - meta["deleted"] == items   # the saved index is in step

    # the long-lived MCP server answers exactly like a fresh process
    queries = [*tok["b"][::13], *tok["c"][::13], "harbour notebook", "violin in c town"]
    fresh = subprocess.run([sys.executable, str(DRIVER), "--home", str(home), "search",
                            "--batch", "-", "--no-index"], input="\n".join(queries) + "\n",
                           capture_output=True, text=True, env=ENV, timeout=600)
    assert fresh.returncode == 0, fresh.stderr
    expect = {d["query"]: d["results"] for d in map(json.loads, fresh.stdout.splitlines())}
    mcp.final_queries = queries
    mcp.go_final.set()
    mcp.join(900)
    assert mcp.failure is None, repr(mcp.failure)
    assert mcp.errors == [] and mcp.misses == [], (mcp.errors[:3], mcp.misses[:3])
    assert mcp.calls > len(queries)
    for q in queries:
        assert _key(mcp.final[q]) == _key(expect[q]), q
        if q.startswith("zq"):
            assert q in expect[q][0]["text"] or any(q in r["text"] for r in expect[q])

"""Latency of ``search_memories`` through MCP vs the same search in-process (same run).

A data dir gets a generated chat history (default 2,000 messages; the generic JSON
export is imported through ``SecondMe.import_paths`` and indexed with the real
all-MiniLM-L6-v2). Then the same queries run

- in-process: ``SecondMe.search(query, k=10)`` (the baseline), and
- through MCP: a real SDK client session over stdio to ``python -m secondme --home DIR
  mcp``, calling the ``search_memories`` tool (JSON-RPC, validation, JSON encoding of
  the results with their provenance, the stdio pipes).

Each side is warmed up first (model loaded, index open); reported: p50/p95 per side and
the ratio MCP/in-process (the overhead of going through the protocol).

Writes benchmarks/results/mcp_latency.json.

    python benchmarks/bench_mcp_latency.py [--messages 2000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULT = ROOT / "benchmarks" / "results" / "mcp_latency.json"

PEOPLE = ["Anna", "Bob", "Chen", "Dana"]
TOPICS = ["the flight to Lisbon", "the quarterly report", "dinner on Friday", "the new bike",
          "the concert tickets", "grandma's birthday", "the apartment in Porto",
          "the dentist appointment", "the hiking trip", "the book club"]
QUERIES = ["flight to Lisbon", "quarterly report deadline", "dinner Friday", "bike",
           "concert tickets", "birthday present", "apartment Porto", "dentist",
           "hiking trip", "book club", "what did Anna say about the concert",
           "when is the dentist appointment"]


def _export(n: int) -> dict:
    rng = random.Random(3)
    t = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
    convs = []
    per = 50
    for c in range(0, n, per):
        person = PEOPLE[(c // per) % len(PEOPLE)]
        msgs = []
        for i in range(min(per, n - c)):
            t += timedelta(minutes=rng.randint(1, 300))
            me = i % 2 == 0
            msgs.append({"id": f"c{c // per}-m{i}", "speaker": "Sam" if me else person,
                         "is_me": me, "timestamp": t.isoformat(),
                         "text": f"{rng.choice(['About', 'Remember', 'Did you see'])} "
                                 f"{rng.choice(TOPICS)}? {rng.choice(['yes', 'soon', 'ok'])}"})
        convs.append({"id": f"conv-{c // per}", "title": f"Chat with {person}",
                      "participants": ["Sam", person], "messages": msgs})
    return {"format": "secondme-chat", "version": 1, "conversations": convs}


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import anyio
    from mcp import types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from secondme.service import SecondMe

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        export = Path(tmp) / "export.json"
        export.write_text(json.dumps(_export(args.messages)))
        sm = SecondMe(home)
        sm.import_paths([export], format="generic")
        sm.index_pending()
        queries = QUERIES * args.repeats
        for q in QUERIES:
            sm.search(q, k=10)
        local = []
        for q in queries:
            t = time.perf_counter()
            sm.search(q, k=10)
            local.append((time.perf_counter() - t) * 1000)
        sm.close()

        params = StdioServerParameters(
            command=sys.executable, args=["-m", "secondme", "--home", str(home), "mcp"],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

        async def remote() -> list[float]:
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write, client_info=types.Implementation(
                        name="bench", version="1")) as s:
                    await s.initialize()
                    for q in QUERIES:
                        await s.call_tool("search_memories", {"query": q, "k": 10})
                    out = []
                    for q in queries:
                        t = time.perf_counter()
                        r = await s.call_tool("search_memories", {"query": q, "k": 10})
                        out.append((time.perf_counter() - t) * 1000)
                        assert not r.is_error
                    return out

        through = anyio.run(remote)

    res = {"benchmark": "mcp_latency",
           "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "platform": platform.platform(),
                       "load_average_1min": round(os.getloadavg()[0], 2)},
           "messages": args.messages, "searches": len(queries), "k": 10,
           "in_process_ms": {"p50": round(statistics.median(local), 2),
                             "p95": round(_pct(local, 95), 2)},
           "mcp_ms": {"p50": round(statistics.median(through), 2),
                      "p95": round(_pct(through, 95), 2)}}
    res["ratio_p50"] = round(res["mcp_ms"]["p50"] / res["in_process_ms"]["p50"], 2)
    res["ratio_p95"] = round(res["mcp_ms"]["p95"] / res["in_process_ms"]["p95"], 2)
    res["overhead_ms_p50"] = round(res["mcp_ms"]["p50"] - res["in_process_ms"]["p50"], 2)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(res, indent=2) + "\n")
    print(f"search_memories p50: in-process {res['in_process_ms']['p50']} ms, through MCP "
          f"{res['mcp_ms']['p50']} ms (x{res['ratio_p50']}, +{res['overhead_ms_p50']} ms); "
          f"p95 x{res['ratio_p95']}")
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""Peak memory while importing a generated 500 MB ChatGPT export (target: RSS growth
≤ 300 MB).

A ``conversations.json`` of ``--mb`` megabytes is generated (conversations of 40
messages; assistant answers padded to realistic lengths). The import runs in a child
process through the service (``SecondMe.import_paths``), which reports its resident
set size right before the import, its RSS sampled every 50 ms during the import, and
its lifetime peak RSS (``ru_maxrss``) after it; growth = max(peaks) − before. The
baseline measured in the same run is the peak growth of merely
streaming the same file through ``ijson.items`` (no conversion, no storing), the floor
of any streaming parser.

Writes benchmarks/results/ingest_memory.json.

    python benchmarks/bench_ingest_memory.py [--mb 500]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "ingest_memory.json"

CHILD_IMPORT = r"""
import json, resource, sys, time, psutil
from pathlib import Path
from secondme.models.embed import HashEmbedder
from secondme.service import SecondMe
path, home = Path(sys.argv[1]), Path(sys.argv[2])
import threading
proc = psutil.Process()
sampled = [0]
stop = threading.Event()

def sample():
    while not stop.is_set():
        sampled[0] = max(sampled[0], proc.memory_info().rss)
        stop.wait(0.05)

with SecondMe(home, embedder=HashEmbedder()) as sm:
    before = proc.memory_info().rss
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    rep = sm.import_paths([path], timezone="UTC")
    dt = time.perf_counter() - t0
    stop.set()
    t.join()
    hits = sm.store.conn.execute(
        "select count(*) from messages_fts where messages_fts match 'apple'").fetchone()[0]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
s = rep.sources[0]
print(json.dumps({"before": before, "peak": peak, "sampled_peak": sampled[0],
                  "seconds": dt, "hits": hits,
                  "messages": s.messages_added, "conversations": s.conversations,
                  "errors": len(s.errors)}))
"""

CHILD_STREAM = r"""
import json, resource, sys, time, psutil, ijson
path = sys.argv[1]
before = psutil.Process().memory_info().rss
t0 = time.perf_counter()
n = 0
with open(path, "rb") as f:
    for conv in ijson.items(f, "item", use_float=True):
        n += 1
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"before": before, "peak": peak, "seconds": dt, "conversations": n}))
"""


def child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env)
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--pad", type=int, default=1200,
                    help="extra characters of words per assistant message")
    args = ap.parse_args()
    from bench_ingest_chats import gen_chatgpt

    MB = 1024 * 1024
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "conversations.json"
        t0 = time.perf_counter()
        msgs = gen_chatgpt(path, 0, per=40, pad=args.pad, target_bytes=args.mb * MB)
        size = path.stat().st_size
        print(f"generated {size / MB:.0f} MB, {msgs} messages in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        stream = child(CHILD_STREAM, str(path))
        print(f"ijson stream only: growth {(stream['peak'] - stream['before']) / MB:.0f} MB, "
              f"{stream['seconds']:.1f} s", flush=True)
        imp = child(CHILD_IMPORT, str(path), str(Path(d) / "home"))
    # the larger of: lifetime peak (ru_maxrss) and the RSS sampled every 50 ms during
    # the import, minus the RSS just before it
    growth = (max(imp["peak"], imp["sampled_peak"]) - imp["before"]) / MB
    out = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "export_mb": round(size / MB, 1), "messages": imp["messages"],
        "conversations": imp["conversations"], "errors": imp["errors"],
        "rss_before_mb": round(imp["before"] / MB, 1), "rss_peak_mb": round(imp["peak"] / MB, 1),
        "rss_sampled_peak_mb": round(imp["sampled_peak"] / MB, 1),
        "rss_growth_mb": round(growth, 1), "target_growth_mb": 300, "met": growth <= 300,
        "import_seconds": round(imp["seconds"], 1),
        "messages_per_s": round(imp["messages"] / imp["seconds"]),
        "keyword_hits_after_import": imp["hits"],
        "baseline_ijson_stream_growth_mb": round((stream["peak"] - stream["before"]) / MB, 1),
        "baseline_ijson_stream_seconds": round(stream["seconds"], 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"import of {out['export_mb']} MB ({out['messages']} messages): RSS growth "
          f"{out['rss_growth_mb']} MB (target ≤ 300: {'met' if out['met'] else 'NOT met'}), "
          f"{out['import_seconds']} s -> {RESULTS}")


if __name__ == "__main__":
    main()

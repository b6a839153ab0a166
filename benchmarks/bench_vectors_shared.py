"""One vector index entry per distinct text (migration m516): what it saves at 1M.

On a store that ``bench_scale_1m.py`` built and embedded (``--home``; it is migrated in
place, so pass a copy), in the same run:

1. **before** — the code of ``--old-code`` (a checkout from before m516, e.g.
   ``git worktree add /tmp/old 9a99da3``), after one opening that brings the index file
   up to date, opens the store in a fresh process and runs the 1M benchmark's searches:
   peak RSS of that process, index entries, index file size, search p50/p95;
2. **migrate** — this checkout opens the store: the migration, then the index rebuilt
   from the stored vectors (nothing embedded again), timed, with that process's peak RSS;
3. **after** — a fresh process of this checkout, as in 1.

Ratios after/before for RSS, entries and file size.

``--form-seconds N`` (instead): ``secondme notes form`` of this checkout on the migrated
store for N seconds, then stopped (SIGINT, its finished windows kept): that process's
peak RSS (VmHWM) and how many messages it formed — a partial run, so a lower bound of a
full run's peak (the note matrix grows with the notes).

Writes benchmarks/results/vectors_shared.json (each run keeps the other's figures).

    python benchmarks/bench_vectors_shared.py --home COPY_OF_1M_HOME --old-code /tmp/old
    python benchmarks/bench_vectors_shared.py --home SAME_HOME --form-seconds 240
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_scale_1m import QUERIES  # noqa: E402
from machine import cpu  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "vectors_shared.json"

# run in a child process with the code under test first on sys.path
CHILD = r"""
import json, resource, statistics, sys, time
home, queries, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
from secondme.service import SecondMe
t0 = time.perf_counter()
sm = SecondMe(home)
opened = time.perf_counter() - t0
t = time.perf_counter()
status = sm.open_vectors().status
index_s = time.perf_counter() - t
lat = []
if mode == "search":
    sm.search("warm up", k=10)
    for _ in range(3):
        for q in queries:
            t = time.perf_counter()
            sm.search(q, k=10)
            lat.append((time.perf_counter() - t) * 1000)
c = sm.store.conn
items = c.execute("select count(*) from vector_items").fetchone()[0]
entries = len(sm.vectors)
sm.close()
q = statistics.quantiles(lat, n=20) if len(lat) > 1 else [None] * 19
print(json.dumps({"open_s": round(opened, 2), "index_status": status,
                  "index_s": round(index_s, 1), "items": items, "entries": entries,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       / 1024, 1),
                  "searches": len(lat),
                  "p50_ms": round(statistics.median(lat), 1) if lat else None,
                  "p95_ms": round(q[18], 1) if lat else None}))
"""


def run(code: Path, home: Path, mode: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code))
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, str(home), json.dumps(QUERIES), mode],
                       cwd=str(code), env=env, capture_output=True, text=True, check=True)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(time.perf_counter() - t, 1)
    out["index_file_mb"] = round((home / "vectors" / "index.bin").stat().st_size / 2**20, 1)
    print(mode, code, json.dumps(out), flush=True)
    return out


def form_partial(home: Path, seconds: float) -> dict:
    def counts() -> tuple[int, int]:
        c = sqlite3.connect(home / "secondme.db")
        try:
            return (c.execute("select count(*) from formed_items").fetchone()[0],
                    c.execute("select count(*) from notes").fetchone()[0])
        finally:
            c.close()

    formed0, notes0 = counts()
    p = subprocess.Popen([sys.executable, "-m", "secondme", "--home", str(home), "notes",
                          "form"], cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    status = Path(f"/proc/{p.pid}/status").read_text()
    hwm = int(next(line.split()[1] for line in status.splitlines()
                   if line.startswith("VmHWM:")))
    p.send_signal(signal.SIGINT)
    p.wait(300)
    formed1, notes1 = counts()
    return {"seconds": seconds, "peak_rss_mb": round(hwm / 1024, 1),
            "messages_formed": formed1 - formed0, "notes_before": notes0,
            "notes_after": notes1, "formed_in_store": formed1,
            "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--old-code", type=Path)
    ap.add_argument("--form-seconds", type=float)
    args = ap.parse_args()
    if args.form_seconds:
        out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        out["form_partial"] = form_partial(args.home, args.form_seconds)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out["form_partial"], indent=2))
        return
    if args.old_code is None:
        ap.error("--old-code is required (or --form-seconds)")
    run(args.old_code, args.home, "open")   # an index file caught up with the database
    before = run(args.old_code, args.home, "search")
    migrate = run(ROOT, args.home, "open")
    after = run(ROOT, args.home, "search")
    prev = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    out = {"benchmark": "vectors_shared", "cpu": cpu(), "cpus": os.cpu_count(),
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "before": before, "migrate": migrate, "after": after,
           "ratio_rss_after_to_before": round(after["peak_rss_mb"] / before["peak_rss_mb"], 3),
           "ratio_entries": round(after["entries"] / before["entries"], 3),
           "ratio_index_file": round(after["index_file_mb"] / before["index_file_mb"], 3),
           "ratio_p95": round(after["p95_ms"] / before["p95_ms"], 2),
           "load": os.getloadavg()[0]}
    if "form_partial" in prev:
        out["form_partial"] = prev["form_partial"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

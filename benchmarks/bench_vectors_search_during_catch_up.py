"""A search while the loaded vector index catches up with another process (issue 14 item
4: "search p95 ≤ 100 ms", "the app usable throughout").

    python benchmarks/bench_vectors_search_during_catch_up.py [--base 200000]
        [--new 6000] [--removed 300] [--baseline-tree DIR] [--work DIR] [--out FILE]

While the app's worker process forms memories, the app's loaded index adds the vectors
the worker wrote (every 10 s, ``WorkerOps._catch_up_vectors``) and overwrites those it
removed with noise (a refined note's old vector). At 1M messages searches meanwhile took
p50/p95 64.8/166.4 ms, max 1.2 s (bench_scale_1m.py fullform) against 23.8/31.2 ms idle.

Here: a store of ``--base`` vectors (clustered unit vectors, as sentence embeddings
are), its index loaded; ``--new`` vectors written and ``--removed`` entries removed as
another process would; one thread catches up (``VectorIndex.sync``) while this one
searches (``VectorIndex.search``, k=40) every 20 ms. Reported: p50/p95/max of the
searches during the catch-up, the catch-up's seconds, and idle searches before it. With
``--baseline-tree`` (a checkout of older code) the same runs on a fresh copy with that
code first; ``*_over_baseline`` below 1 = faster now, both measured in this run.

Writes benchmarks/results/vectors_search_during_catch_up.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import cpu, git_head  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "vectors_search_during_catch_up.json"

VECTORS = r"""
import numpy as np


def clustered(n, dim, seed, centres=3000):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write(sm, model_id, vecs, first_id, tag):
    from secondme.indexing import write_vectors
    for s in range(0, len(vecs), 5000):
        with sm.store.write() as db:
            write_vectors(db.conn, model_id, "note",
                          [(first_id + i, f"{tag}-{i}", vecs[i])
                           for i in range(s, min(s + 5000, len(vecs)))])
"""

BUILD = VECTORS + r"""
import sys
from pathlib import Path
from secondme.models.embed import HashEmbedder
from secondme.service import SecondMe
home, n = Path(sys.argv[1]), int(sys.argv[2])
sm = SecondMe(home, embedder=HashEmbedder())
v = sm.open_vectors()
write(sm, v.model_id, clustered(n, v.dim, 1), 1, "base")
v.rebuild(sm.store)
sm.close()
"""

RUN = VECTORS + r"""
import json, statistics, sys, threading, time
from pathlib import Path
from secondme.models.embed import HashEmbedder
from secondme.service import SecondMe
home, base, new, removed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sm = SecondMe(home, embedder=HashEmbedder())
v = sm.open_vectors()
queries = clustered(200, v.dim, 7)

def timed(q):
    t = time.perf_counter()
    v.search(q, 40)
    return (time.perf_counter() - t) * 1000

idle = [timed(queries[i]) for i in range(60)]
# another process: new entries, and removals (formation drops a refined note's vector)
write(sm, v.model_id, clustered(new, v.dim, 3), base + 1, "new")
with sm.store.write() as db:
    db.conn.executemany("delete from vector_items where item_id = ?",
                        [[i] for i in range(1, base, max(1, base // removed))][:removed])
done = {}
def catch_up():
    t = time.perf_counter()
    done["changed"] = v.sync(sm.store)
    done["s"] = time.perf_counter() - t
th = threading.Thread(target=catch_up)
th.start()
during, i = [], 0
while th.is_alive():
    during.append(timed(queries[i % len(queries)]))
    i += 1
    time.sleep(0.02)
th.join()
sm.close()
print(json.dumps({"idle": idle, "during": during, **done}))
"""


def _stats(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=20, method="inclusive") if len(ms) >= 2 else ms * 19
    return {"searches": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(q[18], 2), "max_ms": round(max(ms), 2)}


def run(tree: Path, base_home: Path, work: Path, args) -> dict:
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base_home, home)
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", RUN, str(home), str(args.base), str(args.new),
                          str(args.removed)], env=env, capture_output=True, text=True,
                         cwd=str(work))
    if out.returncode:
        sys.exit(f"the run with {tree} failed:\n{out.stderr[-3000:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    shutil.rmtree(home, ignore_errors=True)
    return {"code": git_head(tree), "idle": _stats(got["idle"]),
            "during_catch_up": _stats(got["during"]),
            "catch_up_s": round(got["s"], 2), "labels_changed": got["changed"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=int, default=200000, help="vectors loaded before")
    ap.add_argument("--new", type=int, default=6000, help="vectors another process adds")
    ap.add_argument("--removed", type=int, default=300, help="entries it removes")
    ap.add_argument("--baseline-tree", type=Path, help="older code to compare with")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_vectors_catch_up"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base_home = args.work / f"base-{args.base}"
    if not (base_home / "vectors").exists():
        shutil.rmtree(base_home, ignore_errors=True)
        base_home.mkdir()
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", BUILD, str(base_home), str(args.base)],
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
        print(f"built the base store in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    result = {"benchmark": "vectors_search_during_catch_up", "cpu": cpu(),
              "base_vectors": args.base, "new_vectors": args.new, "removed": args.removed,
              "search": "VectorIndex.search, k=40, every 20 ms", "target_p95_ms": 100}
    if args.baseline_tree:
        result["baseline"] = run(args.baseline_tree, base_home, args.work, args)
        print("baseline", json.dumps(result["baseline"]), file=sys.stderr)
    result["current"] = cur = run(ROOT, base_home, args.work, args)
    print("current", json.dumps(cur), file=sys.stderr)
    if args.baseline_tree:
        b = result["baseline"]
        for key in ("p50_ms", "p95_ms", "max_ms"):
            result[f"during_{key[:-3]}_over_baseline"] = round(
                cur["during_catch_up"][key] / b["during_catch_up"][key], 3)
        result["catch_up_s_over_baseline"] = round(cur["catch_up_s"] / b["catch_up_s"], 3)
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if "over_baseline" in k}))


if __name__ == "__main__":
    main()

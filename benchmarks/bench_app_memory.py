"""The desktop app's own memory on a big store: what the process that searches holds.

Opens a kept store (``bench_scale_1m.py --keep DIR`` leaves ``DIR/home``: 1M messages,
their vectors, the keyword index) in a fresh process the way the app does — the vector
index loaded, a few searches (keyword index and all), then the comparison of every
label that the index's background catch-up runs every 30 s while another process forms
memories (``VectorIndex._reconcile``) — and reads the process's resident memory after
each step and its peak (the kernel's VmHWM).

Baseline in the same run: the same steps under the code of ``--baseline REV`` (a git
worktree of that commit), runs interleaved, best of ``--rounds``. The ratio is current /
baseline for the peak and for what is held after the searches.

    python benchmarks/bench_app_memory.py --home DIR/home [--baseline HEAD~1] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import cpu, git_head  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "app_memory.json"

PROBE = r"""
import json, sys, time
from secondme.service import SecondMe

def mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return round(int(line.split()[1]) / 1024, 1)

steps = {}
t0 = time.perf_counter()
sm = SecondMe(sys.argv[1])
v = sm.open_vectors()
steps["index_loaded"] = mb("VmRSS")
for q in json.loads(sys.argv[2]):
    sm.search(q, k=10)
steps["after_searches"] = mb("VmRSS")
conn = sm.store.conn
bound = conn.execute("select max(vec) from vector_items").fetchone()[0]
v._reconcile(conn, bound)
steps["after_label_comparison"] = mb("VmRSS")
import secondme
print(json.dumps({"module": secondme.__file__, "steps_mb": steps, "peak_mb": mb("VmHWM"),
                  "vectors": len(v),
                  "capacity": v._index.get_max_elements(),
                  "seconds": round(time.perf_counter() - t0, 1)}))
sm.close()
"""

QUERIES = ["lasagne recipe", "when is the dentist", "flight delayed", "Sofia birthday",
           "the flat rent", "new job interview", "train to Hamburg", "vet appointment"]


def run(code_root: Path, home: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code_root))
    r = subprocess.run([sys.executable, "-c", PROBE, str(home), json.dumps(QUERIES)],
                       cwd=str(code_root), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"the probe failed under {code_root}: {r.stderr[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True, help="a kept store (DIR/home)")
    ap.add_argument("--baseline", default="HEAD~1", help="the commit to compare with")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    base_rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="bench-appmem-"))
    tree = tmp / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), base_rev], cwd=ROOT,
                   check=True, capture_output=True)
    runs: dict[str, list] = {"baseline": [], "current": []}
    try:
        for _ in range(args.rounds):
            for name, code in (("baseline", tree), ("current", ROOT)):
                runs[name].append(run(code, args.home) | {"load": os.getloadavg()[0]})
                print(name, json.dumps(runs[name][-1]), flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    best = {k: min(v, key=lambda r: r["peak_mb"]) for k, v in runs.items()}
    held = {k: min(r["steps_mb"]["after_searches"] for r in v) for k, v in runs.items()}
    vectors = {r["vectors"] for v in runs.values() for r in v}
    out = {"benchmark": "app_memory", "home": str(args.home), "code": git_head(),
           "baseline_code": base_rev, "cpu": cpu(), "runs": runs,
           "vectors_in_index": sorted(vectors),
           "peak_mb": {k: r["peak_mb"] for k, r in best.items()},
           "held_after_searches_mb": held,
           "peak_ratio": round(best["current"]["peak_mb"] / best["baseline"]["peak_mb"], 3),
           "held_ratio": round(held["current"] / held["baseline"], 3),
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("peak_mb", "held_after_searches_mb", "peak_ratio",
                                          "held_ratio")}))


if __name__ == "__main__":
    main()

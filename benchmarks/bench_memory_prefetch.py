"""The memory a formation group's nearest-note search holds for a moment (issue 14, item 4:
peak RSS ≤ 2 GB while forming 1M messages).

``NoteMatrix.prefetch`` compares every fact of a group of 16 windows with every note in one
matrix product. At the end of the 1M formation (~120k notes, 384 dimensions) a group of
dense windows has several hundred facts; the product (float32) and argpartition's indices
(int64) are both (facts, notes). The baseline, in the same run, is the whole-product
version it replaced (kept here verbatim as the yardstick); the app's is blocked by
``PREFETCH_CELLS``. Both answers are checked to be the same.

Peak bytes come from tracemalloc (numpy reports its buffers to it); times are the best of
3. The note matrix is held as float16 since 6 Dec 2026 (``note_matrix_mb`` against
``note_matrix_mb_float32``); the baseline multiplies the float32 matrix it used to hold.

    python benchmarks/bench_memory_prefetch.py [--notes 124000] [--facts 130,800]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import cpu, git_head  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "memory_prefetch.json"


def whole_product(mat: np.ndarray, n: int, vecs: np.ndarray, k: int) -> list:
    """The baseline: what prefetch did before blocks (one product for the group)."""
    sims = np.asarray(vecs, dtype=np.float32) @ mat[:n].T
    k = min(2 * k, n)
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return [list(zip(top[j].tolist(), sims[j, top[j]].tolist())) for j in range(len(vecs))]


def measure(fn, *args) -> tuple[float, float, list]:
    best, peak, out = float("inf"), 0.0, None
    for _ in range(3):
        tracemalloc.start()
        t0 = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t0
        peak = max(peak, tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        best = min(best, dt)
    return best, peak, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=124_000)
    ap.add_argument("--facts", default="130,800")
    ap.add_argument("--dim", type=int, default=384)
    args = ap.parse_args()
    from secondme.memory.extract import CANDIDATES, PREFETCH_CELLS, NoteMatrix

    class NoStore:
        def execute(self, *a):
            return []

    rng = np.random.default_rng(0)
    m = NoteMatrix(NoStore(), "bench", args.dim)
    vecs = rng.normal(size=(args.notes, args.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i, v in enumerate(vecs):
        m.add(i + 1, v)
    del vecs
    # the baseline's matrix is float32, as the app's was before it held float16
    base_mat = m.mat[:len(m.ids)].astype(np.float32)
    rows = []
    for facts in (int(x) for x in args.facts.split(",")):
        q = rng.normal(size=(facts, args.dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        t_base, mb_base, base = measure(whole_product, base_mat, len(m.ids), q, CANDIDATES)
        t_app, mb_app, app = measure(m.prefetch, q, CANDIDATES)
        same = all(sorted(r for r, _ in a) == sorted(r for r, _ in b) for a, b in zip(app, base))
        rows.append({"facts": facts, "notes": args.notes,
                     "baseline_whole_product": {"s": round(t_base, 4),
                                                "peak_mb": round(mb_base, 1)},
                     "app_blocked": {"s": round(t_app, 4), "peak_mb": round(mb_app, 1)},
                     "ratio_peak_app_to_baseline": round(mb_app / mb_base, 3),
                     "ratio_time_app_to_baseline": round(t_app / t_base, 3),
                     "same_neighbours": same})
        print(json.dumps(rows[-1]), flush=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "memory_prefetch", "code": git_head(), "cpu": cpu(),
        "prefetch_cells": PREFETCH_CELLS, "dim": args.dim,
        "note_matrix_mb": round(m.mat[:len(m.ids)].nbytes / 2**20, 1),
        "note_matrix_mb_float32": round(base_mat.nbytes / 2**20, 1),
        "note_matrix_dtype": str(m.mat.dtype), "rows": rows,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")


if __name__ == "__main__":
    main()

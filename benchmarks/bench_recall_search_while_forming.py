"""Search on a formed store, idle and while the app's worker forms memories (issue 14
item 4: "search p95 ≤ 100 ms", "the app usable throughout").

    python benchmarks/bench_recall_search_while_forming.py --home FORMED_HOME
        [--new-messages 20000] [--baseline-tree DIR] [--work DIR] [--out FILE]
    python benchmarks/bench_recall_search_while_forming.py --messages 30000 ...
    python benchmarks/bench_recall_search_while_forming.py --home PARTLY_FORMED_HOME
        --new-messages 0 --form-minutes 10 [--baseline-tree DIR]

A copy of ``--home`` (a store whose memories are formed: at 1M, bench_scale_1m.py
``--stages fullform`` leaves one), or without it a store built here from ``--messages``
generated chat messages, imported, embedded and formed the app's way. Into the copy go
``--new-messages`` more (bench_scale_1m's generator, other chats), and then the desktop
app's shape runs: one process holds the loaded vector index and

1. searches ``--idle`` times back to back (the idle figures: the new messages are
   keyword-searchable, nothing runs beside);
2. starts the extract job in the app's worker process (``run_in_worker_process``: the new
   messages embedded, then formed) and searches every 2 s until it ends, or until
   ``--form-minutes`` have passed (then it cancels the job and waits for it).

With ``--new-messages 0`` and the home of a store whose formation stopped part way
(bench_scale_1m.py ``--form-minutes``), the job goes on forming that store where it
stopped: searches while a million messages form, every code forming the same
conversations from the same point.

Reported for each: p50/p95/max of ``SecondMe.search`` (k=10) and the median of each
stage of the search (``SearchTrace.timings``). With ``--baseline-tree`` (a checkout of
older code, e.g. ``git worktree add /tmp/base 1aa39ea``) the same runs on a fresh copy
with that code first, and ``*_over_baseline`` are the ratios (below 1 = faster now),
both measured in this run.

Writes benchmarks/results/recall_search_while_forming.json.
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

from bench_scale_1m import generate  # noqa: E402
from machine import cpu, git_head  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "recall_search_while_forming.json"
QUERIES = ["lasagne recipe", "when is the dentist", "who is coming to the party",
           "flight to Lisbon", "birthday present for Jonas", "how much was the concert",
           "rent for the flat", "vet appointment for the cat", "camping trip at the lake"]

# the app's shape, run with the code under test (PYTHONPATH): idle searches, then
# searches every 2 s while the worker process forms
DRIVER = r"""
import json, sys, threading, time
from pathlib import Path
from secondme.service import SecondMe
from secondme.recall.search import SearchTrace
from secondme.progress import CancelToken
home, queries, idle_n = Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
limit_s = float(sys.argv[4]) if len(sys.argv) > 4 else float("inf")
sm = SecondMe(home)
sm.open_vectors()
sm.search("warm up", k=10)

def one(i, since=None):
    tr = SearchTrace()
    t = time.perf_counter()
    sm.search(queries[i % len(queries)], k=10, trace=tr)
    row = {"ms": (time.perf_counter() - t) * 1000, **tr.timings}
    if since is not None:
        row["at_s"] = round(t - since, 1)     # into the job
    return row

idle = [one(i) for i in range(idle_n)]
got, token = {}, CancelToken()
def job():
    try:
        got["summary"] = sm.run_in_worker_process("run_job", name="extract", cancel=token)
    except Exception as e:   # Cancelled at --form-minutes
        got["summary"] = {"stopped": f"{type(e).__name__}: {e}"[:200]}
t = threading.Thread(target=job)
t0 = time.perf_counter()
t.start()
during, i = [], 0
while t.is_alive():
    if time.perf_counter() - t0 > limit_s and not token.cancelled:
        token.cancel()
    during.append(one(i, since=t0))
    i += 1
    t.join(2.0)
job_s = time.perf_counter() - t0
sm.close()
print(json.dumps({"idle": idle, "during": during, "job_s": job_s,
                  "summary": got.get("summary")}))
"""


def stats(rows: list[dict]) -> dict:
    if not rows:
        return {"searches": 0}
    ms = [r["ms"] for r in rows]
    names = ("parse_ms", "lexical_ms", "messages_ms", "notes_ms", "chunks_ms", "dense_ms",
             "fuse_ms", "rerank_ms")
    stages = {k: round(statistics.median(r.get(k, 0.0) for r in rows), 1) for k in names}
    # where the slow searches' time goes: each stage's median over the slowest tenth
    slow = sorted(rows, key=lambda r: r["ms"])[-max(1, len(rows) // 10):]
    return {**percentiles(ms), "median_stage_ms": stages,
            "slowest_tenth_median_stage_ms": {
                k: round(statistics.median(r.get(k, 0.0) for r in slow), 1) for k in names},
            # the five slowest, each whole (when into the job, every stage): a tail that
            # the medians above do not explain
            "slowest": [{k: round(v, 1) for k, v in r.items()} for r in slow[::-1][:5]],
            # in order, a hundred searches at a time: where in a long run the slow ones are
            "by_hundred": [percentiles(ms[i:i + 100]) for i in range(0, len(ms), 100)]
            if len(ms) > 100 else []}


def percentiles(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=20, method="inclusive") if len(ms) > 1 else ms * 19
    return {"searches": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(q[18], 1), "max_ms": round(max(ms), 1)}


def cli(tree: Path, args: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(tree))
    p = subprocess.run([sys.executable, "-m", "secondme", *args], cwd=str(tree), env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"secondme {' '.join(args[:3])} failed: {p.stderr[-1500:]}")


def build_formed(home: Path, n: int, work: Path) -> None:
    """A store of ``n`` generated messages, imported, embedded and formed (this tree)."""
    files = generate(work / "base-export", n, chats=4, seed=14)
    cli(ROOT, ["--home", str(home), "import", *map(str, files)])
    cli(ROOT, ["--home", str(home), "notes", "form"])


def run_tree(tree: Path, base: Path, export: list[Path], work: Path, idle: int,
             form_minutes: float) -> dict:
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    t = time.perf_counter()
    shutil.copytree(base, run)
    copied = time.perf_counter() - t
    if export:
        cli(tree, ["--home", str(run), "import", *map(str, export)])
    env = dict(os.environ, PYTHONPATH=str(tree))
    p = subprocess.run([sys.executable, "-c", DRIVER, str(run), json.dumps(QUERIES),
                        str(idle), str(form_minutes * 60)], cwd=str(tree), env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"the app-shaped run failed: {p.stderr[-2000:]}")
    got = json.loads(p.stdout.strip().splitlines()[-1])
    shutil.rmtree(run, ignore_errors=True)
    return {"code": git_head(tree), "idle": stats(got["idle"]),
            "during_formation": stats(got["during"]), "job_s": round(got["job_s"], 1),
            "summary": got["summary"], "copy_s": round(copied, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="a formed store (copied, never changed)")
    ap.add_argument("--messages", type=int, default=30000,
                    help="without --home: build a formed store of this many messages")
    ap.add_argument("--new-messages", type=int, default=20000)
    ap.add_argument("--idle", type=int, default=40, help="idle searches")
    ap.add_argument("--form-minutes", type=float, default=float("inf"),
                    help="cancel the extract job after this long (a long formation)")
    ap.add_argument("--baseline-tree", type=Path, help="older code to compare with")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_search_forming"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.home
    if base is None:
        base = args.work / "formed"
        if not (base / "secondme.db").exists():
            build_formed(base, args.messages, args.work)
    export = generate(args.work / "new-export", args.new_messages, chats=2, seed=99) \
        if args.new_messages else []
    export = [f.rename(f.with_name(f"WhatsApp Chat with new group {i + 1}.txt"))
              if "new group" not in f.name else f for i, f in enumerate(export)]
    with __import__("sqlite3").connect(f"file:{base / 'secondme.db'}?mode=ro",
                                       uri=True) as c:
        size = dict(zip(("messages", "notes", "links"), c.execute(
            "select (select count(*) from messages), (select count(*) from notes), "
            "(select count(*) from links)").fetchone()))
    with __import__("sqlite3").connect(f"file:{base / 'secondme.db'}?mode=ro",
                                       uri=True) as c:
        size["items_formed"] = c.execute(
            "select count(*) from formed_items").fetchone()[0]
    out = {"benchmark": "recall_search_while_forming", "cpu": cpu(), "store": size,
           "new_messages": args.new_messages, "form_minutes": args.form_minutes,
           "search": "SecondMe.search, k=10",
           "target_p95_ms": 100}
    trees = ([("baseline", args.baseline_tree)] if args.baseline_tree else []) + \
        [("current", ROOT)]
    for name, tree in trees:
        out[name] = run_tree(tree, base, export, args.work, args.idle, args.form_minutes)
        print(name, json.dumps({k: out[name][k] for k in ("idle", "during_formation")}),
              flush=True)
    if args.baseline_tree:
        b, c = out["baseline"], out["current"]
        for phase in ("idle", "during_formation"):
            for q in ("p50_ms", "p95_ms"):
                out[f"{phase}_{q[:3]}_over_baseline"] = round(c[phase][q] / b[phase][q], 3)
    out["meets_target"] = {phase: out["current"][phase]["p95_ms"] <= 100
                           for phase in ("idle", "during_formation")}
    out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if "over" in k or k == "meets_target"}))


if __name__ == "__main__":
    main()

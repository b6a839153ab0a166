"""Memory formation's peak RSS without a copy of the vector index (issue 14 item 4).

Formation adds and removes note vectors but never searches them. Before, the process
that formed memories held the whole hnswlib index all the while (at 1M messages
~0.8 GB), and the desktop app's worker process held a second copy beside the app's.
Now a command (``secondme notes form``) saves and releases its index while formation
runs and reopens it, caught up, for the new notes; the worker never loads one.

Builds a store of ``--messages`` generated chat messages (``bench_scale_1m``'s
generator: WhatsApp-style exports, 20 chats, mostly unique text), imports and embeds
it with the CLI (the real default embedder), then forms memories on three copies of
it, in the same run, each in fresh processes:

- **baseline** — ``run_extract`` in a process that keeps its loaded index throughout
  (``vector_role = "searcher"``: what ``notes form`` and the worker did before);
- **command** — ``secondme notes form``;
- **app + worker** — a process holding the loaded index (the app) runs the extract job
  in a worker process; peak RSS of each and of the two together, against the app's
  process plus the baseline (an old worker was a baseline process of its own).

Reports peak RSS, wall time and their ratios to the baseline, and checks the three
stores end alike (the same notes; the same index entries, all in the saved index).
Writes benchmarks/results/form_memory.json.

    python benchmarks/bench_form_memory.py [--messages 100000] [--keep DIR] [--parallel]

``--parallel`` forms the three copies side by side (a slow host: peak RSS is per
process tree, so it is measured alike; the times share the cores and are not compared).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_scale_1m import generate, run_cli, run_python  # noqa: E402
from machine import cpu, git_head  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "form_memory.json"
PARTIAL = ROOT / "benchmarks" / "results" / "form_memory_partial.json"

# the baseline: formation with the loaded index held throughout
BASELINE = r"""
import json, sys
from secondme.service import SecondMe
sm = SecondMe(sys.argv[1])
sm.open_vectors()                       # loaded, as the old formation held it
summary = sm.run_extract()
sm.close()
print(json.dumps(summary))
"""

# the desktop app's shape: this process holds the loaded index; a worker forms
APP_AND_WORKER = r"""
import json, sys
from secondme.service import SecondMe
sm = SecondMe(sys.argv[1])
sm.open_vectors()
summary = sm.run_in_worker_process("run_job", name="extract")
sm.close()
print(json.dumps(summary))
"""


def measured(r: dict) -> dict:
    """Time and peak RSS (the process, its children, both together) of a run_python record."""
    return {"s": r["s"], "peak_rss_mb": {"parent": r["peak_parent_mb"],
                                         "children": r["peak_children_mb"],
                                         "total": r["peak_rss_mb"]}}


def run_script(script: str, home: Path) -> dict:
    r = run_python(["-c", script, str(home)], "the driver")
    return measured(r) | {"summary": json.loads(r["stdout"].strip().splitlines()[-1])}


def end_state(home: Path) -> dict:
    """What formation left: the notes, the index entries, and whether the saved index
    file holds every one of them (no catching up for the next process to open it)."""
    from secondme.paths import VECTOR_DIR
    from secondme.store import Store
    from secondme.store.vectors import META_FILE

    store = Store.open(home / "secondme.db")
    try:
        c = store.conn
        notes = c.execute("select count(*) from notes").fetchone()[0]
        texts = sorted(r[0] for r in c.execute("select text from notes"))
        entries = c.execute("select count(distinct vec) from vector_items").fetchone()[0]
        gen = c.execute("select generation from vector_state where id = 1").fetchone()[0]
    finally:
        store.close()
    meta = json.loads((home / VECTOR_DIR / META_FILE).read_text())
    return {"notes": notes,
            "notes_sha256": hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16],
            "index_entries": entries,
            "saved_index_live": meta["count"] - meta["deleted"],
            "saved_index_current": meta["generation"] == gen}


def write(out: dict) -> None:
    out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


def vm_hwm_mb(pid: int) -> float:
    """The kernel's own record of a process's peak resident memory (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for {pid}")


def snapshot(work: Path) -> dict:
    """Peak RSS so far (VmHWM) of the formations still running in ``work`` and how far
    each has got: for a run too long for the session, a partial record (a lower bound
    of each peak; the index a baseline holds is held from its start)."""
    import sqlite3

    import psutil

    total = sqlite3.connect(f"file:{work / 'template' / 'secondme.db'}?mode=ro", uri=True
                            ).execute("select count(*) from messages").fetchone()[0]
    out: dict = {"messages": total, "runs": {}}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        for name in ("baseline", "command", "app_and_worker"):
            if str(work / name) not in cmd:
                continue
            db = sqlite3.connect(f"file:{work / name / 'secondme.db'}?mode=ro", uri=True)
            formed = db.execute("select count(*) from formed_items").fetchone()[0]
            notes = db.execute("select count(*) from notes").fetchone()[0]
            kids = proc.children(recursive=True)
            out["runs"][name] = {
                "peak_rss_so_far_mb": vm_hwm_mb(proc.pid),
                "children_peak_rss_so_far_mb": [vm_hwm_mb(k.pid) for k in kids],
                "running_s": round(time.time() - proc.create_time()),
                "stopped": proc.status() == psutil.STATUS_STOPPED,
                "items_formed": formed, "share_formed": round(formed / total, 3),
                "notes": notes}
    base = out["runs"].get("baseline")
    b = base["peak_rss_so_far_mb"] if base else None
    if base is None and RESULTS.exists():       # the baseline finished: its recorded peak
        done = json.loads(RESULTS.read_text()).get("runs", {}).get("baseline")
        if done:
            b = out["baseline_finished_peak_mb"] = done["peak_rss_mb"]["total"]
    cmd, app = out["runs"].get("command"), out["runs"].get("app_and_worker")
    if b and cmd:
        cmd["ratio_to_baseline_so_far"] = round(cmd["peak_rss_so_far_mb"] / b, 3)
    if b and app and app["children_peak_rss_so_far_mb"]:
        # the parent is the app (it holds the index); the worker is what formation costs
        worker = max(app["children_peak_rss_so_far_mb"])
        app["worker_ratio_to_baseline_so_far"] = round(worker / b, 3)
    out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return out


def summarise(out: dict) -> None:
    """The ratios to the baseline from the runs ``out`` holds (all or some of them)."""
    runs = out["runs"]
    base, cmd, app = runs.get("baseline"), runs.get("command"), runs.get("app_and_worker")
    if base is None:
        return
    side_by_side = out.get("side_by_side", False)
    b = base["peak_rss_mb"]["total"]
    if cmd is not None:
        out["command_peak_ratio"] = round(cmd["peak_rss_mb"]["total"] / b, 3)
        if not side_by_side:
            out["command_time_ratio"] = round(cmd["s"] / base["s"], 3)
    # an old worker held what a baseline process holds, beside the app's own process
    if app is not None:
        old_pair = app["peak_rss_mb"]["parent"] + b
        out["app_and_worker"] = {
            "pair_peak_mb": app["peak_rss_mb"]["total"],
            "worker_peak_mb": app["peak_rss_mb"]["children"],
            "app_peak_mb": app["peak_rss_mb"]["parent"],
            "old_pair_estimate_mb": round(old_pair, 1),
            "pair_ratio_to_old": round(app["peak_rss_mb"]["total"] / old_pair, 3),
            "worker_ratio_to_baseline": round(app["peak_rss_mb"]["children"] / b, 3),
            "time_ratio": None if side_by_side else round(app["s"] / base["s"], 3)}
    ends = [r["end"] for r in runs.values()]
    out["same_end_state"] = all(
        e["notes"] == ends[0]["notes"] and e["notes_sha256"] == ends[0]["notes_sha256"]
        and e["index_entries"] == ends[0]["index_entries"] for e in ends)
    out["saved_index_complete"] = {k: r["end"]["saved_index_live"] == r["end"]["index_entries"]
                                   for k, r in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, default=None, help="work dir to keep and reuse")
    ap.add_argument("--runs", default="baseline,command,app_and_worker")
    ap.add_argument("--snapshot", action="store_true",
                    help="peak RSS so far of the formations running in --keep DIR "
                         "(results/form_memory_partial.json)")
    ap.add_argument("--summarise", action="store_true",
                    help="only recompute the ratios of the recorded results (a partial run)")
    ap.add_argument("--parallel", action="store_true",
                    help="form the copies side by side (peak RSS only; times not compared)")
    args = ap.parse_args()
    if args.snapshot:
        got = snapshot(args.keep)
        PARTIAL.write_text(json.dumps(got, indent=2) + "\n")
        print(json.dumps(got, indent=1))
        return
    if args.summarise:
        out = json.loads(RESULTS.read_text())
        summarise(out)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=1))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-form-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    template = work / "template"
    out: dict = {"benchmark": "form_memory", "messages": args.messages, "code": git_head(),
                 "cpu": cpu(), "cpus": os.cpu_count()}
    if not (template / "secondme.db").exists():
        files = generate(work / "export", args.messages)
        shutil.rmtree(template, ignore_errors=True)
        r = run_cli(["--home", str(template), "import", *map(str, files)])
        out["import_s"] = r["s"]
    # (resumes an index run that a kept work dir's earlier run did not finish)
    r = run_cli(["--home", str(template), "index"])
    out["index_s"] = r["s"]
    out["index_peak_rss_mb"] = r["peak_rss_mb"]
    out["index_said"] = r["stdout"].strip().splitlines()[-1:]
    runs: dict = {}
    out["runs"] = runs
    names = args.runs.split(",")
    out["side_by_side"] = args.parallel
    for name in names:
        home = work / name
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(template, home)
    done = threading.Lock()

    def run(name: str) -> None:
        home = work / name
        load0 = os.getloadavg()[0]
        if name == "command":
            got = run_python(["-m", "secondme", "--home", str(home), "notes", "form", "--json"],
                             "notes form")
            r = measured(got)
            r["summary"] = json.loads(got["stdout"][got["stdout"].index("{"):])
        else:
            r = run_script(BASELINE if name == "baseline" else APP_AND_WORKER, home)
        r["end"] = end_state(home)
        r["load_before"] = load0
        r["load_after"] = os.getloadavg()[0]
        with done:
            runs[name] = r
            print(name, json.dumps({k: v for k, v in r.items() if k != "summary"}), flush=True)
            shutil.rmtree(home, ignore_errors=True)
            write(out)                     # a partial run keeps what it measured

    if args.parallel:
        # peak RSS is per process tree, so side-by-side runs measure it alike; their
        # times then share the cores and are not compared
        with ThreadPoolExecutor(len(names)) as pool:
            for f in [pool.submit(run, n) for n in names]:
                f.result()
    else:
        for name in names:
            run(name)
    summarise(out)
    write(out)
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

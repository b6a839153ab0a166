"""Issue 19: run the worker-thread garbage-collection stress many times in a row.

    python benchmarks/stress_ui_gc.py [--runs 20] [--ops 60] [--no-policy]

Each run is a fresh process (tests/scripts/ui_gc_stress.py): imports, formations and
searches through the OpRunner with ``gc.collect()`` forced on the workers while the GUI
thread creates and drops windows caught in reference cycles, and sometimes waits for its
workers. A run fails when it crashes, hangs past its deadline, reports an error or a
deadlock. ``--no-policy`` runs the same trials with Python's default collector (the
state before the fix), to show the failure the fix removes.

Writes benchmarks/results/ui_gc_stress[_no_policy].json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "scripts" / "ui_gc_stress.py"


def trial(ops: int, policy: bool, timeout: float) -> dict:
    cmd = [sys.executable, str(SCRIPT), "--ops", str(ops)]
    if not policy:
        cmd.append("--no-policy")
    t = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "hung", "seconds": round(time.monotonic() - t, 1)}
    out = {"exit": r.returncode, "seconds": round(time.monotonic() - t, 1)}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if lines:
        out.update(json.loads(lines[-1]))
    if r.returncode < 0 or r.returncode >= 128:
        out["outcome"] = "crashed"
        fatal = [ln for ln in r.stderr.splitlines() if "Fatal Python error" in ln]
        out["fatal"] = fatal[0] if fatal else f"signal {abs(r.returncode) % 128}"
    elif out.get("deadlocks"):
        out["outcome"] = "deadlocked"
    elif r.returncode != 0:
        out["outcome"] = "failed"
    else:
        out["outcome"] = "clean"
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--ops", type=int, default=60)
    ap.add_argument("--no-policy", action="store_true")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    policy = not args.no_policy
    runs = []
    for i in range(args.runs):
        r = trial(args.ops, policy, args.timeout)
        runs.append(r)
        print(f"run {i + 1}/{args.runs}: {r['outcome']} in {r['seconds']} s"
              + (f" ({r['fatal']})" if r.get("fatal") else ""), flush=True)
    import PySide6

    summary = {
        "policy": policy, "runs": len(runs), "ops_per_run": args.ops,
        "clean": sum(r["outcome"] == "clean" for r in runs),
        "clean_in_a_row_from_start": next((i for i, r in enumerate(runs)
                                           if r["outcome"] != "clean"), len(runs)),
        "crashed": sum(r["outcome"] == "crashed" for r in runs),
        "deadlocked": sum(r["outcome"] == "deadlocked" for r in runs),
        "hung": sum(r["outcome"] == "hung" for r in runs),
        "failed": sum(r["outcome"] == "failed" for r in runs),
        "pyside6": PySide6.__version__, "python": sys.version.split()[0],
        "trials": runs,
    }
    name = "ui_gc_stress" + ("" if policy else "_no_policy")
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "trials"}))
    return 0 if summary["clean"] == summary["runs"] or not policy else 1


if __name__ == "__main__":
    sys.exit(main())

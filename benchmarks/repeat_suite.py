"""Run the whole test suite several times in a row and record how each run ended.

    python benchmarks/repeat_suite.py [--runs 5] [pytest args...]

Issue 19 asks for five runs in a row on one machine without a crash (a segfault or an
abort shows as a negative return code or 134/139). Each run is a fresh pytest process
with Qt offscreen. Writes benchmarks/results/repeat_suite.json: per run the exit code,
passed/failed/skipped counts, seconds, and whether the interpreter crashed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    runs = 5
    if argv[:1] == ["--runs"]:
        runs, argv = int(argv[1]), argv[2:]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = []
    for i in range(runs):
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            *argv], cwd=ROOT, env=env, capture_output=True, text=True)
        tail = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)",
                                                     tail)}
        crashed = r.returncode < 0 or r.returncode in (134, 139) or \
            "Fatal Python error" in r.stderr + r.stdout
        run = {"run": i + 1, "exit": r.returncode, "crashed": crashed,
               "seconds": round(time.monotonic() - t), **counts, "summary": tail}
        if r.returncode != 0:  # keep the crash dump (faulthandler writes it to stderr)
            run["stderr_tail"] = r.stderr.splitlines()[-80:]
            run["stdout_tail"] = r.stdout.splitlines()[-40:]
            run["progress_dots"] = r.stdout.count(".")  # -q: about one per passed test
        out.append(run)
        print(f"run {i + 1}/{runs}: exit {r.returncode} {tail}", flush=True)
        res = write(out, runs)  # after every run: a long series stopped early keeps its runs
    return 0 if res["all_clean"] and len(out) == runs else 1


def write(out: list[dict], runs: int) -> dict:
    res = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip(),
           "runs_asked": runs, "runs": out, "all_clean": all(r["exit"] == 0 for r in out),
           "crashes": sum(r["crashed"] for r in out), "load": os.getloadavg()}
    (ROOT / "benchmarks" / "results" / "repeat_suite.json").write_text(
        json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

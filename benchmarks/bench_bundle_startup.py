"""Time from launching the desktop bundle to the first paint of its window (issue 18).

    python benchmarks/bench_bundle_startup.py dist/secondme-0.1.0-linux-x86_64.tar.gz [--runs 5]

The bundle is unpacked into a temporary folder and run as check_bundle.py runs it
(``env -i``, a fresh HOME, no network, Qt offscreen, ``SECONDME_UI_PAINT_PROBE=1``: the
app prints ``FIRST_PAINT <epoch seconds>`` at the main window's first paint and quits).
Cases, interleaved run by run so that they share the machine's load:

* ``bundle_first_start`` — the first start after unpacking (once);
* ``bundle_cold`` — every file of the bundle evicted from the page cache first
  (``posix_fadvise(DONTNEED)``: as after a reboot);
* ``bundle_warm`` — started again at once;
* ``source_app`` — the same app from this checkout's Python (``python -m secondme``);
* ``bare_qwidget`` — a bare PySide6 window with this Python: the baseline.

Writes benchmarks/results/bundle_startup.json. Goal: ≤ 3 s on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))
from check_bundle import BARE, Scrubbed, unpack  # noqa: E402

GOAL_S = 3.0


def evict(folder: Path) -> int:
    """Drop ``folder``'s files from the page cache; returns how many were evicted."""
    n = 0
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            finally:
                os.close(fd)
    return n


def paint_seconds(run) -> float:
    t0 = time.time()
    r = run()
    for line in (r.stdout or "").splitlines():
        if line.startswith("FIRST_PAINT "):
            return float(line.split()[1]) - t0
    raise RuntimeError(f"no paint reported: {(r.stderr or r.stdout or '')[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", type=Path, help="the tarball (or an unpacked bundle folder)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-bundle-startup-"))
    try:
        app = args.bundle if args.bundle.is_dir() else unpack(args.bundle, tmp / "unpacked")
        s = Scrubbed(app, tmp / "home")
        probe = {"QT_QPA_PLATFORM": "offscreen", "SECONDME_UI_PAINT_PROBE": "1",
                 "SECONDME_UI_NO_DIALOGS": "1"}
        src_env = {**os.environ, **probe, "PYTHONPATH": str(ROOT / ".pp")}
        n = [0]

        def bundle():
            n[0] += 1
            return s.run("--home", str(tmp / f"h{n[0]}"), timeout=300, **probe)

        def source():
            n[0] += 1
            return subprocess.run([sys.executable, "-m", "secondme", "--home",
                                   str(tmp / f"h{n[0]}")], capture_output=True, text=True,
                                  env=src_env, timeout=300)

        def bare():
            return subprocess.run([sys.executable, "-c", BARE], capture_output=True, text=True,
                                  env={**os.environ, **probe}, timeout=300)

        res: dict[str, list[float]] = {"bundle_first_start": [paint_seconds(bundle)],
                                       "bundle_cold": [], "bundle_warm": [],
                                       "source_app": [], "bare_qwidget": []}
        for _ in range(args.runs):
            evict(app)
            res["bundle_cold"].append(paint_seconds(bundle))
            res["bundle_warm"].append(paint_seconds(bundle))
            res["source_app"].append(paint_seconds(source))
            res["bare_qwidget"].append(paint_seconds(bare))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict = {k: {"median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3),
                     "runs": [round(x, 3) for x in v]} for k, v in res.items()}
    base = out["bare_qwidget"]["median_s"]
    for k in ("bundle_first_start", "bundle_cold", "bundle_warm", "source_app"):
        out[k]["ratio_to_bare"] = round(out[k]["median_s"] / base, 2)
    out["bundle_cold_vs_source"] = round(out["bundle_cold"]["median_s"]
                                         / out["source_app"]["median_s"], 2)
    out.update(goal_s=GOAL_S, platform="offscreen", cpus=os.cpu_count(),
               load_average_1min=round(os.getloadavg()[0], 1),
               ok=max(out["bundle_first_start"]["median_s"],
                      out["bundle_cold"]["median_s"]) <= GOAL_S)
    for k, v in out.items():
        print(f"{k:22s} {v}")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "bundle_startup.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Time from launching ``secondme --home TMP`` to the first paint of its window.

    python benchmarks/bench_ui_startup.py [--runs 5] [--platform offscreen|xcb]

Each run starts a fresh process with ``SECONDME_UI_PAINT_PROBE=1``: the app prints
``FIRST_PAINT <epoch seconds>`` at the main window's first paint event and quits. The
baseline, measured in the same run the same way, is a bare PySide6 QWidget app. Two
cases for the app: a new data dir, and one holding the demo export (imported once
before timing). Writes benchmarks/results/ui_startup.json. Goal: ≤ 1.5 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget(); w.setWindowTitle("bare"); w.resize(1280, 820)
class F(QObject):
    done = False
    def eventFilter(self, o, e):
        if o is w and e.type() == QEvent.Type.Paint and not self.done:
            self.done = True
            print(f"FIRST_PAINT {time.time():.6f}", flush=True)
            QTimer.singleShot(0, app.quit)
        return False
f = F(); w.installEventFilter(f); w.show(); app.exec()
"""


def time_to_paint(cmd: list[str], env: dict) -> float:
    t0 = time.time()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("FIRST_PAINT "):
            return float(line.split()[1]) - t0
    raise RuntimeError(f"no paint reported by {cmd}: {out.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    args = ap.parse_args()
    env = dict(os.environ, SECONDME_UI_PAINT_PROBE="1", QT_QPA_PLATFORM=args.platform)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-startup-"))
    demo_home = tmp / "demo"
    # the demo data dir (import + memories) is prepared once, untimed
    subprocess.run([sys.executable, "-c",
                    "from secondme_ui.panes.standalone import demo_service;"
                    f"demo_service({str(demo_home)!r}, fake_models=True).close()"],
                   check=True, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    app_cmd = [sys.executable, "-m", "secondme", "--home"]
    results: dict[str, list[float]] = {"bare_qwidget": [], "app_new_home": [], "app_demo_home": []}
    time_to_paint([sys.executable, "-c", BARE], env)  # warm the OS file cache
    time_to_paint(app_cmd + [str(demo_home)], env)
    for i in range(args.runs):
        results["bare_qwidget"].append(time_to_paint([sys.executable, "-c", BARE], env))
        results["app_new_home"].append(time_to_paint(app_cmd + [str(tmp / f"new{i}")], env))
        results["app_demo_home"].append(time_to_paint(app_cmd + [str(demo_home)], env))
    summary = {k: {"median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3),
                   "runs": [round(x, 3) for x in v]} for k, v in results.items()}
    base = summary["bare_qwidget"]["median_s"]
    for k in ("app_new_home", "app_demo_home"):
        summary[k]["ratio_to_bare"] = round(summary[k]["median_s"] / base, 2)
    summary["goal_s"] = 1.5
    summary["platform"] = args.platform
    summary["load_average_1min"] = round(os.getloadavg()[0], 1)
    summary["cpus"] = os.cpu_count()
    summary["ok"] = all(summary[k]["median_s"] <= 1.5 for k in ("app_new_home", "app_demo_home"))
    for k, v in summary.items():
        print(f"{k:15s} {v}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ui_startup.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

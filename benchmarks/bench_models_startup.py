"""``secondme --version``: wall time and proof that no heavy library is imported for it.

* wall time of the installed console script ``secondme --version`` (or
  ``python -m secondme --version`` when the script is not installed), median of N runs,
  against ``python -c pass`` measured in the same run (the interpreter's own start-up);
  target: median <= 300 ms;
* the modules loaded by ``--version`` (a fresh interpreter runs the CLI's entry point
  and then lists ``sys.modules``): torch, llama_cpp, sentence_transformers and PySide6
  must not be among them;
* the ten slowest imports according to ``python -X importtime``.

Writes benchmarks/results/models_startup.json.

    python benchmarks/bench_models_startup.py [--runs 15]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "models_startup.json"
HEAVY = ("torch", "llama_cpp", "sentence_transformers", "PySide6", "shiboken6",
         "transformers", "numpy", "hnswlib")
MUST_NOT = ("torch", "llama_cpp", "sentence_transformers", "PySide6")

MODULES_AFTER_VERSION = """
import sys
sys.argv = ["secondme", "--version"]
from secondme.cli import run
try:
    run()
except SystemExit:
    pass
print("@@MODULES@@ " + " ".join(sorted(sys.modules)))
"""


def version_command() -> list[str]:
    """The console script next to this interpreter, else ``python -m secondme``."""
    script = Path(sys.executable).parent / ("secondme.exe" if os.name == "nt" else "secondme")
    if script.exists():
        return [str(script), "--version"]
    return [sys.executable, "-m", "secondme", "--version"]


def wall_times(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def modules_loaded_by_version() -> set[str]:
    """Top-level names of every module a fresh interpreter has after ``--version``."""
    r = subprocess.run([sys.executable, "-c", MODULES_AFTER_VERSION], capture_output=True,
                       text=True, check=True, cwd=str(ROOT))
    line = next(l for l in r.stdout.splitlines() if l.startswith("@@MODULES@@"))
    return {m.split(".")[0] for m in line.split()[1:]}


def slowest_imports(n: int = 10) -> list[dict]:
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", MODULES_AFTER_VERSION],
                       capture_output=True, text=True, cwd=str(ROOT))
    rows = []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line[len("import time:"):].split("|", 2)
        if len(parts) != 3:
            continue
        try:
            rows.append({"module": parts[2].strip(), "self_ms": int(parts[0]) / 1000,
                         "cumulative_ms": int(parts[1]) / 1000})
        except ValueError:
            continue
    rows.sort(key=lambda r: -r["cumulative_ms"])
    return rows[:n]


def measure(runs: int = 15) -> dict:
    cmd = version_command()
    subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache
    base, ver = [], []
    for _ in range(runs):  # interleaved so that load from others hits both alike
        base += wall_times([sys.executable, "-c", "pass"], 1)
        ver += wall_times(cmd, 1)
    loaded = modules_loaded_by_version()
    med_v, med_b = statistics.median(ver), statistics.median(base)
    return {
        "command": " ".join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd)),
        "runs": runs,
        "version_ms_median": round(med_v * 1000, 1),
        "version_ms_p90": round(sorted(ver)[int(0.9 * (len(ver) - 1))] * 1000, 1),
        "python_pass_ms_median": round(med_b * 1000, 1),
        "ratio_vs_python_pass": round(med_v / med_b, 2),
        "overhead_ms": round((med_v - med_b) * 1000, 1),
        "target_ms": 300,
        "heavy_modules_loaded": sorted(set(HEAVY) & loaded),
        "forbidden_loaded": sorted(set(MUST_NOT) & loaded),
        "modules_loaded": len(loaded),
        "slowest_imports": slowest_imports(),
    }


def main() -> None:
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 15
    res = measure(runs)
    res["benchmark"] = "models_startup"
    res["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(f"{res['command']}: median {res['version_ms_median']} ms (p90 "
          f"{res['version_ms_p90']} ms); python -c pass {res['python_pass_ms_median']} ms; "
          f"ratio {res['ratio_vs_python_pass']}; target <= 300 ms")
    print(f"heavy modules loaded: {res['heavy_modules_loaded'] or 'none'}")
    for r in res["slowest_imports"][:5]:
        print(f"  {r['cumulative_ms']:8.1f} ms  {r['module']}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

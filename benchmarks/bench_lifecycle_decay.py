"""How long does the decay pass take over 100,000 notes? (target ≤ 5 s on 2 cores)

A fresh data dir gets N fact notes spread over two years (30 % reinforced 1–5 times, 1 %
pinned; :func:`tests/fabricate.py bulk_notes`). Timed: ``run_decay`` as the job
runs it — ages from SQLite ``julianday`` over the columns, numpy retention, executemany
updates of the changed rows and archiving (with history rows) in short transactions.
Two passes: the first changes nearly every row (cold: every retention moves, the faded
ones are archived), the second a day later (warm: every retention moves again, few
archive). Baseline in the same run: reading the same columns with one ``select``
(the floor of any pass); each timing is also given as a ratio to it.

Writes benchmarks/results/lifecycle_decay.json.

    python benchmarks/bench_lifecycle_decay.py [--notes 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "lifecycle_decay.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=100_000)
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    from fabricate import bulk_notes  # notes in fabricated states, see tests/fabricate.py

    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    now = {"t": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    with tempfile.TemporaryDirectory() as tmp:
        sm = SecondMe(Path(tmp) / "home", embedder=HashEmbedder(), clock=lambda: now["t"])
        t0 = time.perf_counter()
        bulk_notes(sm, args.notes, now=now["t"])
        setup = time.perf_counter() - t0

        t0 = time.perf_counter()
        rows = sm.store.conn.execute(
            "select id, strength, julianday(?) - julianday(coalesce(last_recalled, updated_at, "
            "created_at)), pinned, archived, retention from notes",
            [now["t"].isoformat()]).fetchall()
        baseline = time.perf_counter() - t0
        assert len(rows) == args.notes

        load_before = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        cold = sm.run_decay()
        t_cold, c_cold = time.perf_counter() - t0, time.process_time() - c0
        now["t"] += timedelta(days=1)
        t0, c0 = time.perf_counter(), time.process_time()
        warm = sm.run_decay()
        t_warm, c_warm = time.perf_counter() - t0, time.process_time() - c0
        load_after = os.getloadavg()[0]
        archived = sm.store.conn.execute("select count(*) from notes where archived = 1"
                                         ).fetchone()[0]
        total = sm.store.conn.execute("select count(*) from notes").fetchone()[0]
        sm.close()

    out = {
        "benchmark": "lifecycle_decay",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "notes": args.notes,
        "setup_seconds": round(setup, 3),
        "baseline_select_seconds": round(baseline, 3),
        "decay_cold_seconds": round(t_cold, 3),
        "decay_warm_seconds": round(t_warm, 3),
        "decay_cold_cpu_seconds": round(c_cold, 3),
        "decay_warm_cpu_seconds": round(c_warm, 3),
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "note": ("wall seconds include waiting for the CPU when the machine is shared; "
                 "cpu seconds are this process's own work"),
        "cold_ratio_to_baseline": round(t_cold / baseline, 2),
        "warm_ratio_to_baseline": round(t_warm / baseline, 2),
        "cold_summary": cold, "warm_summary": warm,
        "archived_total": archived, "notes_after": total,
        "target_seconds": 5.0,
        "meets_target_wall": max(t_cold, t_warm) <= 5.0,
        "meets_target_cpu": max(c_cold, c_warm) <= 5.0,
        "never_deleted": total == args.notes,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"decay over {args.notes:,} notes: cold {t_cold:.2f} s ({c_cold:.2f} s CPU), warm "
          f"{t_warm:.2f} s ({c_warm:.2f} s CPU), load {load_before:.1f}"
          f" — ratios to the baseline select below")
    print(f"decay over {args.notes:,} notes: cold {t_cold:.2f} s, warm {t_warm:.2f} s "
          f"(baseline select {baseline:.2f} s; ratio {t_cold / baseline:.1f}x / "
          f"{t_warm / baseline:.1f}x); archived {archived:,}; target <= 5 s: "
          f"wall {'met' if out['meets_target_wall'] else 'MISSED'}, "
          f"CPU {'met' if out['meets_target_cpu'] else 'MISSED'}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""Answers on the embedded default model: token F1, abstention, false premises, invalid
citations, ask latency, and ``secondme ask --batch`` over 200 questions.

    python benchmarks/bench_recall_answers.py [--dataset FILE]... [--keep DIR] [--no-batch]

For each dataset (default: the recall dataset and the hand-written answer set
``tests/fixtures/recall/answers/answers.json``) its conversations are imported into a data
dir through the real importer and embedded with the real all-MiniLM-L6-v2
(``recall/eval.py:build_eval_store``; ``--keep DIR`` keeps the dirs and reuses them).
Every question is answered through ``SecondMe.ask_many`` (what ``ask --batch`` and the
evaluation use) twice in the same run:

- ``typed``: the shipped reader (answer types, spans, premise checks);
- ``sentence``: the baseline — the reader of 0.1 (the best sentence; the date of the
  best message for "when" questions).

Figures per split (``tune`` / ``heldout``; tune on one, report both):

- ``f1``: SQuAD token F1 over answerable questions (per category and answer type too:
  the labelled type, or for a dataset without labels the type the reader recognises);
- ``abstention``: share of unanswerable questions declined (abstained or corrected),
  split into false premises (it was the other person) and things never mentioned;
  ``corrected_right``: false premises answered "That was X, not Y" with the right X;
- ``over_abstention``: share of answerable questions declined;
- ``invalid_citations``: markers in an answer with no citation, plus citations whose
  number the answer does not use (both must be 0);
- ``ask_p50_ms`` / ``ask_p95_ms``: per-question time inside the service, models loaded.

``--batch`` timing: ``secondme --home DIR ask --batch FILE`` over 200 questions in a new
process (model load included), against one ``secondme ask --json`` in a new process in
the same run (its wall time is mostly start-up and model load).

Writes benchmarks/results/recall_answers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secondme.recall.answer import cited_numbers, token_f1  # noqa: E402
from secondme.recall.dataset import read_dataset  # noqa: E402
from secondme.recall.eval import build_eval_store  # noqa: E402
from secondme.recall.qtypes import analyze_question  # noqa: E402

DATASETS = [ROOT / "tests/fixtures/recall/dataset.json",
            ROOT / "tests/fixtures/recall/answers/answers.json"]


def _q(values: list[float], q: float):
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))], 1)


def _pct(xs: list[float]):
    return round(100.0 * sum(xs) / len(xs), 1) if xs else None


def invalid_citations(a) -> int:
    """Markers without a citation + citations whose number the text does not use."""
    used = set(cited_numbers(a.answer))
    given = {c.n for c in a.citations}
    return len(used - given) + len(given - used)


def score(questions: list[dict], answers: list) -> dict:
    rows = []
    for q, a in zip(questions, answers):
        cat = q.get("category", "single")
        # the labelled answer type, else the one the reader recognises (qtypes)
        qtype = q.get("type") or analyze_question(q["question"]).atype
        r = {"category": cat, "type": qtype, "kind": q.get("kind"),
             "question": q["question"], "gold": q.get("answer", ""), "answer": a.answer,
             "method": a.method, "abstained": a.abstained,
             "ms": a.timings.get("total_ms", 0.0), "invalid": invalid_citations(a)}
        if cat == "unanswerable":
            r["declined"] = a.abstained
            if q.get("actual"):
                r["corrected_right"] = a.method == "corrected" and \
                    re.search(r"\b" + re.escape(q["actual"]) + r"\b", a.answer) is not None
        else:
            r["f1"] = 0.0 if a.abstained else token_f1(a.answer, str(q.get("answer", "")))
        rows.append(r)

    def summ(rs):
        out = {"n": len(rs), "f1": _pct([r["f1"] for r in rs if "f1" in r])}
        dec = [float(r["declined"]) for r in rs if "declined" in r]
        out["abstention"] = _pct(dec)
        out["over_abstention"] = _pct([float(r["abstained"]) for r in rs if "f1" in r])
        return out

    res = summ(rows)
    res["per_category"] = {c: summ([r for r in rows if r["category"] == c])
                           for c in sorted({r["category"] for r in rows})}
    types = sorted({r["type"] for r in rows if r.get("type") and "f1" in r})
    if types:
        res["per_type"] = {t: summ([r for r in rows if r.get("type") == t]) for t in types}
    kinds = sorted({r["kind"] for r in rows if r.get("kind")})
    if kinds:
        res["unanswerable_by_kind"] = {k: summ([r for r in rows if r.get("kind") == k])
                                       for k in kinds}
    cr = [float(r["corrected_right"]) for r in rows if "corrected_right" in r]
    res["corrected_right"] = _pct(cr)
    res["invalid_citations"] = sum(r["invalid"] for r in rows)
    ms = [r["ms"] for r in rows]
    res["ask_p50_ms"], res["ask_p95_ms"] = _q(ms, 0.5), _q(ms, 0.95)
    return res, rows


def open_store(data: dict, keep: Path | None, name: str):
    from secondme.service import SecondMe

    if keep is not None:
        home = keep / name
        if (home / "READY").exists():
            return SecondMe(home), home
        home.mkdir(parents=True, exist_ok=True)
        ev = build_eval_store(SecondMe, data, home)
        (home / "READY").write_text("ok")
        return ev, home
    home = Path(tempfile.mkdtemp(prefix=f"bench-answers-{name}-"))
    return build_eval_store(SecondMe, data, home), home


def run_dataset(path: Path, keep: Path | None, modes: list[str], show: str | None) -> dict:
    data = read_dataset(path)
    t0 = time.perf_counter()
    ev, home = open_store(data, keep, path.stem)
    setup_s = time.perf_counter() - t0
    out = {"dataset": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
           "messages": sum(len(c["messages"]) for c in data["conversations"]),
           "questions": len(data["questions"]), "setup_s": round(setup_s, 1), "modes": {},
           "home": str(home)}
    qs = data["questions"]
    ev.search("warm up", k=5)  # load the embedding model before timing
    from secondme.recall import search as search_mod

    for mode in modes:
        ev.answer_mode = mode
        search_mod._query_vectors.data.clear()  # each mode pays for its query embeddings
        answers = ev.ask_many([q["question"] for q in qs])
        out["modes"][mode] = {}
        for split in ("tune", "heldout"):
            idx = [i for i, q in enumerate(qs) if q.get("split", "tune") == split]
            res, rows = score([qs[i] for i in idx], [answers[i] for i in idx])
            out["modes"][mode][split] = res
            if show and mode == "typed" and split == show:
                for r in rows:
                    mark = "" if r.get("f1", 1.0) >= 0.5 and r.get("declined", True) else "✗ "
                    print(f"  {mark}[{r['category']}/{r.get('type')}] {r['question']} | gold: "
                          f"{r['gold']} | got: {r['answer'][:120]}")
        print(f"{path.stem:<10} {mode:<8} " + "  ".join(
            f"{s}: F1 {v['f1']} abst {v['abstention']} over {v['over_abstention']} "
            f"inv {v['invalid_citations']} p95 {v['ask_p95_ms']}ms"
            for s, v in out["modes"][mode].items()), flush=True)
    ev.answer_mode = "typed"
    ev.close()
    return out


def batch_timing(home: Path, questions: list[str]) -> dict:
    """``secondme ask --batch`` over ``questions`` in a new process vs one ``ask``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    f = home / "batch-questions.txt"
    f.write_text("\n".join(questions) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "secondme", "--home", str(home)]
    t = time.perf_counter()
    one = subprocess.run(cmd + ["ask", "--json", "--no-index", questions[0]], env=env,
                         capture_output=True, text=True, timeout=600)
    one_s = time.perf_counter() - t
    t = time.perf_counter()
    many = subprocess.run(cmd + ["ask", "--batch", str(f), "--no-index"], env=env,
                          capture_output=True, text=True, timeout=1200)
    many_s = time.perf_counter() - t
    lines = [json.loads(x) for x in many.stdout.splitlines() if x.strip()]
    in_order = [x["question"] for x in lines] == questions
    return {"questions": len(questions), "batch_s": round(many_s, 1),
            "single_ask_process_s": round(one_s, 1),
            "ratio_batch_to_single": round(many_s / one_s, 2) if one_s else None,
            "lines": len(lines), "in_order": in_order, "batch_rc": many.returncode,
            "single_rc": one.returncode}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", action="append", type=Path)
    ap.add_argument("--keep", type=Path, help="keep/reuse the data dirs here")
    ap.add_argument("--modes", default="typed,sentence")
    ap.add_argument("--no-batch", action="store_true")
    ap.add_argument("--show", choices=["tune", "heldout"], help="print every answer of a split")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/recall_answers.json")
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results = {"load_average": load, "datasets": []}
    homes = []
    for p in args.dataset or DATASETS:
        r = run_dataset(p.resolve(), args.keep, args.modes.split(","), args.show)
        results["datasets"].append(r)
        homes.append((Path(r["home"]), read_dataset(p)["questions"]))
    if not args.no_batch:
        home, qs = homes[0]
        questions = [q["question"] for q in qs][:200]
        results["batch"] = batch_timing(home, questions)
        print("batch:", results["batch"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
